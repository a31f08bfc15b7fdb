"""Recognise the questions qnext-tiny was trained on, and work out their expected answers.

The bundled model knows only the task generator's question formats (``tasks.py``): anything else ("Hello,
who are you?") gets a confident-looking but meaningless answer. :func:`recognise` parses a prompt against
each family's exact format and sizes and returns the problem with its expected answer (or None);
:func:`read_question` also knows near misses (a known format at a size training never used) and is the
bundled model's answer key (:func:`answer_key`), so every view can mark an answer right or wrong and say, before
answering, whether the model was trained on the question. :func:`example_questions` gives one
question per family for prompt pickers. Pure: text in, text out; knows nothing about models or widgets.

    recognise("What is 478 + 356?").answer    # '834'
    recognise("What is the capital of France?")  # None
    read_question("What is 8 + 5?")            # Expected('13', family='add', trained=False, detail=('digits', 2, 4, 1))
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from ..thinking.verdict import AnswerKey, Expected
from .tasks import FAMILIES, Problem, make_problems

BUNDLED_NAME = "qnext-tiny"

# What each family asks, in words a class understands (families the generator adds later fall back to their name).
FAMILY_DESCRIPTIONS: dict[str, str] = {
    "add": "adding two numbers (What is 478 + 356?)",
    "arith": "short sums with + − × of single digits (What is 3 * 4 + 2?)",
    "count": "counting a letter in a word (How many r in strawberry?)",
    "compare": "which of two numbers is larger (Which is larger, 4521 or 4519?)",
    "sort": "sorting a few digits (Sort 7 2 9 4.)",
    "mul": "multiplying big numbers with its multiply tool (What is 4785 * 356?)",
}

# What the generator makes (tasks.py at curriculum levels 0.3..1, the levels training uses), per family:
# operand digits, terms, word letters, list items. A question of a known format outside these is a near miss.
TRAINED_RANGES: dict[str, tuple[str, int, int]] = {
    "add": ("digits", 2, 4),
    "arith": ("terms", 3, 4),
    "count": ("letters", 4, 11),
    "compare": ("digits", 2, 5),
    "sort": ("items", 3, 7),
    "mul": ("digits", 2, 4),
}

_INT = r"(?:0|[1-9][0-9]*)"


def _add(m: re.Match) -> str:
    return str(int(m["a"]) + int(m["b"]))


def _arith(m: re.Match) -> str:
    tokens = m["expr"].split()
    nums, ops = [int(t) for t in tokens[::2]], tokens[1::2]
    while "*" in ops:  # products first (the generator makes at most one)
        i = ops.index("*")
        nums[i : i + 2], ops[i : i + 1] = [nums[i] * nums[i + 1]], []
    total = nums[0]
    for op, n in zip(ops, nums[1:]):
        total = total + n if op == "+" else total - n
    return str(total)


def _count(m: re.Match) -> str:
    return str(m["word"].count(m["letter"]))


def _compare(m: re.Match) -> str | None:
    a, b = m["a"], m["b"]
    return None if a == b else max(a, b, key=int)


def _sort(m: re.Match) -> str:
    return " ".join(sorted(m["digits"].split()))


def _mul(m: re.Match) -> str:
    return str(int(m["a"]) * int(m["b"]))


def _digits(m: re.Match) -> list[int]:
    return [len(m["a"]), len(m["b"])]


def _outside(family: str, m: re.Match) -> tuple | None:
    """``(what, low, high, got)`` when the question is of ``family``'s format but not a size it was trained
    on (``got`` the offending size), ``("repeated",)`` / ``("lengths",)`` for a broken rule, else None."""
    what, low, high = TRAINED_RANGES[family]
    if family in ("add", "mul", "compare"):
        sizes = _digits(m)
        if family == "compare" and sizes[0] != sizes[1]:
            return ("lengths",)
    elif family == "arith":
        tokens = m["expr"].split()
        if any(not 1 <= int(t) <= 9 for t in tokens[::2]):
            return ("single", 1, 9, max(int(t) for t in tokens[::2]))
        if tokens[1::2].count("*") > 1:
            return ("products",)
        sizes = [len(tokens[::2])]
    elif family == "count":
        sizes = [len(m["word"])]
    else:  # sort
        digits = m["digits"].split()
        if len(set(digits)) != len(digits):
            return ("repeated",)
        sizes = [len(digits)]
    bad = [n for n in sizes if not low <= n <= high]
    return (what, low, high, bad[0]) if bad else None


# family -> (the generator's question format, loosened to any size; the answer it implies, or None)
_FORMATS: dict[str, tuple[re.Pattern, Callable[[re.Match], str | None]]] = {
    "add": (re.compile(rf"What is (?P<a>{_INT}) \+ (?P<b>{_INT})\?"), _add),
    "count": (re.compile(r"How many (?P<letter>[a-z]) in (?P<word>[a-z]+)\?"), _count),
    "compare": (re.compile(rf"Which is larger, (?P<a>{_INT}) or (?P<b>{_INT})\?"), _compare),
    "sort": (re.compile(r"Sort (?P<digits>[0-9](?: [0-9])+)\."), _sort),
    "mul": (re.compile(rf"What is (?P<a>{_INT}) \* (?P<b>{_INT})\?"), _mul),
    "arith": (re.compile(rf"What is (?P<expr>{_INT}(?: [-+*] {_INT})+)\?"), _arith),
}


def read_question(prompt: object) -> Expected:
    """What the bundled model's answer key knows about ``prompt``.

    A question in one of the generator's formats gets its family and expected answer; ``trained`` says
    whether its sizes are the ones training used ("What is 8 + 5?" and "What is 47856 + 35612?" are
    addition, but with 1- and 5-digit numbers where training had 2-4: near misses, ``detail`` says why).
    Anything else ("Hello, who are you?") has no family and no answer. Only a plain string counts.
    """
    model = BUNDLED_NAME
    if not isinstance(prompt, str):
        return Expected(exact=True, trained=False, model=model)
    question = prompt.strip()
    near: list[Expected] = []
    for family, (pattern, solve) in _FORMATS.items():  # near misses in this order: add before arith
        if family not in FAMILIES:  # a format this checkpoint's generator does not make
            continue
        match = pattern.fullmatch(question)
        answer = None if match is None else solve(match)
        if answer is None:
            continue
        outside = _outside(family, match)
        if outside is None:
            return Expected(answer, True, family, True, (), model)
        near.append(Expected(answer, True, family, False, outside, model))
    return near[0] if near else Expected(exact=True, trained=False, model=model)


def recognise(prompt: object) -> Problem | None:
    """The problem ``prompt`` is, with its expected answer, if it is a question the bundled model was trained
    on: the generator's exact format and sizes (surrounding whitespace ignored). The returned problem has the
    family, the question and the answer, and an empty ``thinking`` (it was not generated)."""
    found = read_question(prompt)
    if not found.trained or found.family is None or found.answer is None:
        return None
    return Problem(found.family, str(prompt).strip(), "", found.answer)


def example_questions(seed: int = 7) -> dict[str, str]:
    """One question per family the generator makes (``{family: question}``), reproducible from ``seed``."""
    examples: dict[str, str] = {}
    for family in FAMILIES:
        try:
            examples[family] = make_problems(1, seed=seed, families=[family])[0].question
        except ValueError:  # a family the generator lists but cannot make on its own
            continue
    return examples


def known_families() -> dict[str, str]:
    """``{family: description}`` for every family the bundled model was trained on."""
    return {family: FAMILY_DESCRIPTIONS.get(family, family) for family in FAMILIES}


@dataclass(frozen=True)
class TinyAnswerKey(AnswerKey):
    """The bundled model's answer key (:func:`answer_key`): :func:`read_question` for every prompt."""

    def expected(self, prompt: object) -> Expected:
        return read_question(prompt)


@lru_cache(maxsize=1)
def answer_key() -> TinyAnswerKey:
    """The bundled model's answer key: pass it as ``expected=`` to any view (the views use it by themselves
    for the bundled model)."""
    return TinyAnswerKey(model=BUNDLED_NAME, families=known_families(), examples=example_questions())
