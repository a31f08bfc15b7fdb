"""The one home of "the answer" and "is it right": the answer part of a decoded assistant turn, the rule that
judges an answer against an expected one, what an answer key knows about a prompt, and "did the budget
close the thinking".

* :func:`answer_text` takes the answer out of a decoded turn (after the last ``</think>``, before the end of
  turn); a :class:`~qnext_lab.thinking.result.Generation` already carries it as ``.answer``.
* :func:`is_right` is the rule: whitespace aside, the answer *is* the expected answer (``exact=True``, for
  terse models such as the bundled one), or its final words are ("The sum is 834." is right, "834 or 835"
  and "8345" are not).
* :class:`Expected` is what an answer key knows about one prompt: the expected answer, how to compare, and
  whether the model was trained on this kind of question (so a view can warn before answering).
  :class:`AnswerKey` is the interface a model's key implements (the bundled model's is
  ``qnext_lab.tiny.answer_key()``); views take one through ``expected=``.
* :func:`budget_closed` is the one rule for "the budget cut the thinking" (``Generation.budget_hit``).

Knows nothing about models, widgets or the task generator.

    is_right("834", "The sum is 834.")          # True
    answer_text("<think>\\n4+6=10\\n</think>\\n\\n834<|im_end|>")   # '834'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..trace.phases import THINKING

END_OF_TURN = ("<|im_end|>", "<|endoftext|>")
_DECORATION = ".,;:!?*_`'\"()[]{}"  # what may wrap a final answer ("**834**.", "(834)")


def normalise(answer: Any) -> str:
    """Whitespace collapsed to single spaces, ends stripped."""
    return " ".join(str(answer).split())


def answer_text(generated: str) -> str:
    """The answer in a decoded assistant turn: after the last ``</think>``, before the end-of-turn token,
    whitespace collapsed (a bare answer is returned normalised)."""
    if not isinstance(generated, str):
        raise TypeError(f"expected the decoded turn as a str, got {type(generated).__name__}")
    text = generated.split("</think>")[-1]
    for end in END_OF_TURN:
        text = text.split(end)[0]
    return normalise(text)


def is_right(expected: Any, answer: str, *, exact: bool = False) -> bool:
    """Whether ``answer`` gives ``expected``.

    ``exact``: the whole answer must be the expected answer (whitespace aside). Otherwise the answer's final
    words must be: "The sum is 834." and "**834**" give 834; "834 or 835", "8345" and "834 is wrong, it is
    835" do not.
    """
    if not isinstance(answer, str):
        raise TypeError(f"answer must be a str, got {type(answer).__name__}")
    want, got = normalise(expected), normalise(answer)
    if not want:
        raise ValueError("the expected answer is empty")
    if exact:
        return got == want
    words = [w.strip(_DECORATION) for w in want.split(" ")]
    tail = [w for w in (w.strip(_DECORATION) for w in got.split(" ")) if w]
    return tail[-len(words) :] == words


@dataclass(frozen=True)
class Expected:
    """What an answer key knows about one prompt.

    ``answer``: the expected answer (None: not known). ``exact``: compare with ``is_right(exact=True)``.
    ``family``: the kind of question (a key of the model's families), None when the prompt is none of them.
    ``trained``: True when the model was trained on exactly this kind and size of question; False when it
    is outside (a near miss such as "What is 8 + 5?" when it learned 2-4 digit sums has ``family`` and
    ``answer`` set; a prompt of no known kind has neither); None when the key says nothing about training.
    ``detail``: why a near miss is outside, as ``(what, low, high, got)`` (e.g. ``("digits", 2, 4, 1)``), for
    the view to put in words. ``model``: whose key this is, for the notes.
    """

    answer: str | None = None
    exact: bool = False
    family: str | None = None
    trained: bool | None = None
    detail: tuple[Any, ...] = ()
    model: str = ""

    def is_right(self, answer: str) -> bool | None:
        """True/False when the expected answer is known, else None."""
        return None if self.answer is None else is_right(self.answer, answer, exact=self.exact)


@dataclass(frozen=True)
class AnswerKey:
    """A model's answer key: what it was trained on, the expected answer of a prompt, example questions.

    The base knows nothing (every prompt: ``Expected()``); a model's key overrides :meth:`expected`. A view
    given a key (``expected=key``) marks every answer with it and, where ``trained`` is known, warns before
    answering a prompt the model was not trained on.
    """

    model: str = ""
    families: dict[str, str] = field(default_factory=dict)  # {family: what it asks, in words}
    examples: dict[str, str] = field(default_factory=dict)  # {family: one question}

    def expected(self, prompt: Any) -> Expected:
        return Expected(model=self.model)


def fixed_answer(answer: Any) -> Expected:
    """An :class:`Expected` for an answer the caller gives (str or int), compared by its final words."""
    if isinstance(answer, bool) or not isinstance(answer, (str, int)):
        raise TypeError(f"expected must be the answer as a str or int, or an AnswerKey, got {type(answer).__name__}")
    text = normalise(answer)
    if not text:
        raise ValueError("expected must not be empty")
    return Expected(answer=text)


def budget_closed(forced: Sequence[bool], labels: Sequence[str]) -> bool:
    """Whether the budget forced its stop text into the thinking (the one rule for "budget hit")."""
    return any(f and label == THINKING for f, label in zip(forced, labels))
