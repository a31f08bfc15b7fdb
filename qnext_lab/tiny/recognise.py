"""Recognise the questions qnext-tiny was trained on, and work out their expected answers.

The bundled model knows only the task generator's question formats (``tasks.py``): anything else ("Hello,
who are you?") gets a confident-looking but meaningless answer. :func:`recognise` parses a prompt against
each family's exact format and returns the problem with its expected answer (or None), so every view can
mark an answer right or wrong and flag a prompt the model cannot know. :func:`example_questions` gives one
question per family for prompt pickers. Pure: text in, text out; knows nothing about models or widgets.

    recognise("What is 478 + 356?").answer    # '834'
    recognise("What is the capital of France?")  # None
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .tasks import FAMILIES, Problem, make_problems

# What each family asks, in words a class understands (families the generator adds later fall back to their name).
FAMILY_DESCRIPTIONS: dict[str, str] = {
    "add": "adding two numbers (What is 478 + 356?)",
    "arith": "short sums with + − × of single digits (What is 3 * 4 + 2?)",
    "count": "counting a letter in a word (How many r in strawberry?)",
    "compare": "which of two numbers is larger (Which is larger, 4521 or 4519?)",
    "sort": "sorting a few digits (Sort 7 2 9 4.)",
    "mul": "multiplying big numbers with its multiply tool (What is 4785 * 356?)",
}

_NUMBER = r"[1-9][0-9]{1,4}"  # the generator's operands have 2 to 5 digits


def _add(m: re.Match) -> str:
    return str(int(m["a"]) + int(m["b"]))


def _arith(m: re.Match) -> str:
    tokens = m["expr"].split()
    nums, ops = [int(t) for t in tokens[::2]], tokens[1::2]
    if "*" in ops:  # the generator's rule: at most one product, done first
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
    if a == b or len(a) != len(b):  # the generator compares distinct numbers of one length
        return None
    return max(a, b)


def _sort(m: re.Match) -> str | None:
    digits = m["digits"].split()
    if len(set(digits)) != len(digits):  # distinct digits only
        return None
    return " ".join(sorted(digits))


def _mul(m: re.Match) -> str:
    return str(int(m["a"]) * int(m["b"]))


# family -> (the generator's exact question format, the answer it implies or None if it breaks a rule)
_FORMATS: dict[str, tuple[re.Pattern, Callable[[re.Match], str | None]]] = {
    "add": (re.compile(rf"What is (?P<a>{_NUMBER}) \+ (?P<b>{_NUMBER})\?"), _add),
    "arith": (re.compile(r"What is (?P<expr>[1-9](?: [-+*] [1-9]){2,3})\?"), _arith),
    "count": (re.compile(r"How many (?P<letter>[a-z]) in (?P<word>[a-z]+)\?"), _count),
    "compare": (re.compile(rf"Which is larger, (?P<a>{_NUMBER}) or (?P<b>{_NUMBER})\?"), _compare),
    "sort": (re.compile(r"Sort (?P<digits>[0-9](?: [0-9]){2,9})\."), _sort),
    "mul": (re.compile(rf"What is (?P<a>{_NUMBER}) \* (?P<b>{_NUMBER})\?"), _mul),
}


def recognise(prompt: object) -> Problem | None:
    """The problem ``prompt`` is, with its expected answer, if it is one of the bundled model's question formats.

    Only a plain string in the generator's exact format counts (surrounding whitespace ignored); the returned
    problem has the family, the question and the answer, and an empty ``thinking`` (it was not generated).
    """
    if not isinstance(prompt, str):
        return None
    question = prompt.strip()
    for family, (pattern, solve) in _FORMATS.items():
        if family not in FAMILIES:  # a format this checkpoint's generator does not make
            continue
        match = pattern.fullmatch(question)
        if match is not None:
            answer = solve(match)
            if answer is not None:
                return Problem(family, question, "", answer)
    return None


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
