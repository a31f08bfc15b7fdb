"""What a view knows about a prompt: its expected answer, whether an answer is right, and whether the
bundled model can know the question at all.

The expected answer is the user's ``expected=`` when given, else the one :func:`qnext_lab.tiny.recognise`
works out from the task generator's question formats. An answer is right when, whitespace aside, it *is*
the expected answer (the bundled model answers tersely); for other models it is right when the expected
answer appears in it as a whole word ("The sum is 834."). The bundled model gets a note before it answers:
what it was trained on, and a warning when the prompt is none of it. Everything returned is escaped HTML.
Knows nothing about generation or figures beyond the pane styles.

    check = Expectation.of(prompt, model)         # or Expectation.of(prompt, model, expected="834")
    check.verdict_html("834")                     # the ✓ right badge
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..figures.escape import escape_text
from ..figures.theme import PANE, RIGHT_BG, UNKNOWN_BG, WARNING_TINT, WRONG_BG, badge
from ..tiny.recognise import example_questions, known_families, recognise
from .i18n import text

BUNDLED_NAME = "qnext-tiny"


def is_bundled(model: Any) -> bool:
    """Whether ``model`` is the bundled qnext-tiny (loaded from the kit's own checkpoint directory)."""
    from ..tiny.paths import tiny_path

    name = getattr(getattr(model, "config", None), "_name_or_path", "") or getattr(model, "name_or_path", "")
    if not name:
        return False
    try:
        return Path(name).resolve() == tiny_path(check=False).resolve()
    except (OSError, RuntimeError):
        return False


def _normalise(answer: str) -> str:
    return " ".join(str(answer).split())


@dataclass(frozen=True)
class Expectation:
    """The expected answer of one prompt (None when unknown) and how strictly answers are compared."""

    prompt: Any
    expected: str | None
    family: str | None
    bundled: bool
    language: str | None = None

    @classmethod
    def of(cls, prompt: Any, model: Any, expected: Any = None, language: str | None = None) -> Expectation:
        problem = recognise(prompt)
        if expected is not None:
            if not isinstance(expected, (str, int)) or isinstance(expected, bool):
                raise TypeError(f"expected must be the answer as a str or int, got {type(expected).__name__}")
            return cls(
                prompt, _normalise(str(expected)), problem.family if problem else None, is_bundled(model), language
            )
        return cls(
            prompt,
            problem.answer if problem else None,
            problem.family if problem else None,
            is_bundled(model),
            language,
        )

    @property
    def known_question(self) -> bool:
        """Whether the prompt is one of the bundled model's question formats."""
        return self.family is not None

    def is_right(self, answer: str) -> bool | None:
        """True/False when the expected answer is known, else None."""
        if self.expected is None:
            return None
        got = _normalise(answer)
        if self.bundled:
            return got == self.expected
        return re.search(rf"(?<![\w.]){re.escape(self.expected)}(?![\w]|\.\d)", got) is not None

    def verdict_html(self, answer: str) -> str:
        """A badge: ✓ right, ✗ wrong (with the expected answer), or "not checked"."""
        right = self.is_right(answer)
        if right is None:
            return badge(escape_text(text("unchecked", self.language)), UNKNOWN_BG, "qnext-verdict qnext-unchecked")
        if right:
            return badge(escape_text(text("right", self.language)), RIGHT_BG, "qnext-verdict qnext-right")
        return badge(
            escape_text(text("wrong", self.language, expected=self.expected)), WRONG_BG, "qnext-verdict qnext-wrong"
        )

    def _family_name(self) -> str:
        key = f"family_{self.family}"
        try:
            return text(key, self.language)
        except KeyError:  # a family added to the generator after this table
            return str(self.family)

    def note_html(self) -> str:
        """Shown before answering: for the bundled model, what it knows and whether this prompt is one of it."""
        if not self.bundled:
            return ""
        if self.known_question:
            return (
                f'<div class="qnext-prompt-note qnext-known" style="color:var(--jp-content-font-color2, #5f5f5f)">'
                f"{escape_text(text('expected_note', self.language, model=BUNDLED_NAME, family=self._family_name(), expected=self.expected))}"
                "</div>"
            )
        families = "; ".join(known_families().values())
        message = text("ood", self.language, model=BUNDLED_NAME, families=families)
        return (
            f'<div class="qnext-prompt-note qnext-ood" style="{PANE}background:{WARNING_TINT};'
            f'font-family:var(--jp-ui-font-family, sans-serif)">⚠ {escape_text(message)}</div>'
        )


def answer_part(generated: str) -> str:
    """The answer in a decoded assistant turn: after the last ``</think>``, surrounding whitespace removed."""
    return str(generated).split("</think>")[-1].strip()


def example_options(language: str | None = None) -> list[tuple[str, str]]:
    """Dropdown options: a placeholder, then one example question per family the bundled model knows."""
    return [(text("pick_example", language), ""), *((q, q) for q in example_questions().values())]
