"""What a view knows about a prompt: its expected answer, whether an answer is right, and whether the model
was trained on the question at all, as escaped HTML (badge and note).

The knowledge comes from the caller: ``expected=`` is the answer (str or int), or an answer key
(:class:`~qnext_lab.thinking.verdict.AnswerKey`, e.g. ``qnext_lab.tiny.answer_key()``). Given nothing, a
view of the bundled qnext-tiny uses that model's key (:func:`default_key`, the one place the widget layer
names the bundled model); any other model's answers are "not checked". Judging is
``thinking.verdict.is_right``. With a key that knows what the model was trained on, the note before
answering says so: the expected answer of a trained question; a warning for a near miss (a known kind of
question at a size training never used: its answer is marked, but means little); a warning listing what
the model knows for anything else. Knows nothing about generation; the badge and the note are
built by ``figures.answers``.

    check = Expectation.of(prompt, model)         # or Expectation.of(prompt, model, expected="834")
    check.verdict_html("834")                     # the ✓ right badge
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..figures.answers import prompt_note_html, verdict_badge
from ..thinking.verdict import AnswerKey, Expected, fixed_answer
from .i18n import text


def is_bundled(model: Any) -> bool:
    """Whether ``model`` is the bundled qnext-tiny (loaded from the kit's own checkpoint directory)."""
    from ..runtime.bundled import tiny_path

    name = getattr(getattr(model, "config", None), "_name_or_path", "") or getattr(model, "name_or_path", "")
    if not name:
        return False
    try:
        return Path(name).resolve() == tiny_path(check=False).resolve()
    except (OSError, RuntimeError):
        return False


def default_key(model: Any) -> AnswerKey | None:
    """The answer key a view uses when the caller gives none: the bundled model's for qnext-tiny, else None."""
    if not is_bundled(model):
        return None
    from ..tiny.recognise import answer_key

    return answer_key()


def split_expected(expected: Any) -> tuple[AnswerKey | None, Any]:
    """A view's ``expected=`` as (answer key, answer for the first prompt): a key holds for every prompt the
    view is asked, an answer only for the prompt it was given with."""
    return (expected, None) if isinstance(expected, AnswerKey) else (None, expected)


@dataclass(frozen=True)
class Expectation:
    """What is known about one prompt (``found``) and under which key, in one language."""

    prompt: Any
    found: Expected
    key: AnswerKey | None = None
    language: str | None = None

    @classmethod
    def of(
        cls, prompt: Any, model: Any, expected: Any = None, language: str | None = None, key: AnswerKey | None = None
    ) -> Expectation:
        """``expected``: an answer (str or int) or an :class:`AnswerKey`; ``key``: the view's key. Without
        either key, the model's default key (:func:`default_key`)."""
        key, expected = (expected, None) if isinstance(expected, AnswerKey) else (key, expected)
        key = key if key is not None else default_key(model)
        found = key.expected(prompt) if key is not None else Expected()
        if expected is not None and not isinstance(expected, AnswerKey):  # the caller's own answer wins
            mine = fixed_answer(expected)
            found = Expected(mine.answer, found.exact, found.family, found.trained, found.detail, found.model)
        return cls(prompt, found, key, language)

    @property
    def expected(self) -> str | None:
        return self.found.answer

    @property
    def known_question(self) -> bool:
        """Whether the prompt is a kind of question the model was trained on (at any size)."""
        return self.found.family is not None

    def is_right(self, answer: str) -> bool | None:
        """True/False when the expected answer is known, else None (``thinking.verdict.is_right``)."""
        return self.found.is_right(answer)

    def verdict_html(self, answer: str) -> str:
        """A badge: ✓ right, ✗ wrong (with the expected answer), or "not checked" (``figures.answers``)."""
        right = self.is_right(answer)
        if right is None:
            return verdict_badge(None, text("unchecked", self.language))
        words = text("right", self.language) if right else text("wrong", self.language, expected=self.expected)
        return verdict_badge(right, words)

    def _family_name(self, family: str | None) -> str:
        try:
            return text(f"family_{family}", self.language)
        except KeyError:  # a family this table does not name: the key's own words
            return (self.key.families.get(family, str(family)) if self.key else str(family)) or str(family)

    def _detail(self) -> str:
        """Why a near miss is outside training, in words."""
        what, *values = self.found.detail or ("",)
        try:
            return text(f"outside_{what}", self.language, **dict(zip(("low", "high", "got"), values)))
        except KeyError:
            return ""

    def note_html(self) -> str:
        """Shown before answering: what the key says about this prompt ('' when it says nothing)."""
        found, lang = self.found, self.language
        model = found.model or (self.key.model if self.key else "")
        if found.trained:
            message = text(
                "expected_note", lang, model=model, family=self._family_name(found.family), expected=found.answer
            )
            return prompt_note_html(message, "known")
        if found.trained is None or self.key is None:
            return ""
        if found.family is not None:  # a near miss: a kind of question it knows, at a size it never saw
            message = text(
                "near_note",
                lang,
                model=model,
                family=self._family_name(found.family),
                detail=self._detail(),
                expected=found.answer,
            )
            kind = "near"
        else:
            families = text("list_sep", lang).join(
                text("family_with_example", lang, family=self._family_name(f), example=self.key.examples.get(f, ""))
                if self.key.examples.get(f)
                else self._family_name(f)
                for f in self.key.families
            )
            message = text("ood", lang, model=model, families=families)
            kind = "ood"
        return prompt_note_html(message, kind)

    @property
    def warns(self) -> bool:
        """Whether the note is a warning (the model was not trained on this question)."""
        return self.key is not None and self.found.trained is False


def example_options(language: str | None = None, key: AnswerKey | None = None) -> list[tuple[str, str]]:
    """Dropdown options: a placeholder, then the key's example questions (one per family it knows)."""
    examples = key.examples.values() if key is not None else ()
    return [(text("pick_example", language), ""), *((q, q) for q in examples)]
