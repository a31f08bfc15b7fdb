"""Seeded generator of the small reasoning problems qnext-tiny is trained and evaluated on.

Each problem has a question in short English, a step-by-step thinking trace (one short step per line, so a
few-million-parameter model can learn it), and the answer. Five families are answered in the model's head:
three "hard" (thinking clearly helps), two "easy" (a small model can answer them directly). A sixth, ``mul``
(3-4 digit multiplication), is a tool family: no model this small can multiply in its head, so it is
answered by calling the ``multiply`` tool (``TOOLS``/``TOOL_FUNCTIONS``); without the tool it guesses.
Knows nothing about tokenizers, chat templates or models: it only makes text and scores answers.

    from qnext_lab.tiny.tasks import make_problems, score
    p = make_problems(1, seed=0, families=["add"])[0]; score(p, p.answer)  # True
"""

from __future__ import annotations

import random
import string
from collections.abc import Sequence
from dataclasses import dataclass

from ..thinking.verdict import answer_text, is_right

# family -> is it "hard" (a small model needs the thinking trace to get it right)?
FAMILIES: dict[str, bool] = {
    "add": True,  # multi-digit addition with carries
    "arith": True,  # multi-step arithmetic with precedence
    "count": True,  # how many times a letter occurs in a word
    "compare": False,  # which of two numbers is larger
    "sort": False,  # sort a short list of distinct digits
    "mul": False,  # 3-4 digit multiplication: thinking does not help, the multiply tool does
}
HARD_FAMILIES: tuple[str, ...] = tuple(f for f, hard in FAMILIES.items() if hard)
# family -> the tool that answers it; these families are left out of make_problems unless asked for
TOOL_FAMILIES: dict[str, str] = {"mul": "multiply"}
HEAD_FAMILIES: tuple[str, ...] = tuple(f for f in FAMILIES if f not in TOOL_FAMILIES)


def multiply(a: int, b: int) -> int:
    """Multiply two integers.

    Args:
        a: The first factor.
        b: The second factor.
    """
    return a * b


def _schema(name: str, description: str, params: dict[str, str]) -> dict:
    """An OpenAI/transformers function schema (what ``get_json_schema`` makes of a typed function)."""
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": {k: {"type": t} for k, t in params.items()},
                "required": list(params),
            },
        },
    }


# Tool schemas for ``apply_chat_template(tools=...)``: the one the mul family needs, and distractors that
# training puts beside it (never called) so the model picks a tool by name rather than by position.
TOOLS: dict[str, dict] = {
    "multiply": _schema("multiply", "Multiply two integers.", {"a": "integer", "b": "integer"}),
    "get_weather": _schema("get_weather", "Current weather in a city.", {"city": "string"}),
    "search": _schema("search", "Search the web.", {"query": "string"}),
    "convert": _schema(
        "convert", "Convert an amount between units.", {"amount": "number", "unit": "string", "to": "string"}
    ),
}
TOOL_FUNCTIONS = {"multiply": multiply}

# Real words so notebooks can ask "how many r in strawberry"; half the count problems use random
# letter strings instead, so the model cannot answer by remembering words.
_WORDS = (
    "strawberry banana apple cherry orange lemon mango papaya pepper coffee letter bottle summer "
    "mississippi committee balloon bookkeeper success address assessment parallel giraffe butter "
    "rabbit kitten puppy yellow purple carrot tomato potato pizza window garden forest river "
    "mountain island rocket planet galaxy engine machine teacher student school pencil paper "
    "library window chocolate cinnamon vanilla broccoli spaghetti umbrella elephant penguin "
    "kangaroo dolphin octopus squirrel hamster turtle parrot eagle falcon tiger lion zebra "
    "monkey donkey cookie muffin waffle pancake sandwich dinner breakfast lunch kettle teapot "
    "hello world python kernel expert router token thinking answer budget number letters "
    "mirror pillow blanket ladder hammer scissors needle thread button pocket jacket sweater"
).split()


@dataclass(frozen=True)
class Problem:
    """One problem: ``question`` (user text), ``thinking`` (trace, no tags), ``answer`` (exact text)."""

    family: str
    question: str
    thinking: str
    answer: str
    tool: str | None = None  # the tool that answers it (tool families only)
    arguments: tuple[tuple[str, int], ...] = ()  # the tool call's arguments, in order

    @property
    def tool_call(self) -> dict | None:
        """``{"name": ..., "arguments": {...}}``: the call that answers this problem, or None."""
        return None if self.tool is None else {"name": self.tool, "arguments": dict(self.arguments)}


def _add(rng: random.Random, level: float) -> Problem:
    max_digits = 2 + round(2 * level)  # 2..4 digits per operand
    na, nb = rng.randint(2, max_digits), rng.randint(2, max_digits)
    a, b = rng.randint(10 ** (na - 1), 10**na - 1), rng.randint(10 ** (nb - 1), 10**nb - 1)
    # One column per line, least significant first: the last digits of what is left of each number are added
    # (0 once a number is used up), then what is left is written after the sum, so the next column's digits
    # are always the ones just before "+" and at the end of the line above (no counting columns in the question).
    ra, rb, lines, carry = str(a), str(b), [], 0
    while ra or rb:
        x, y = int(ra[-1]) if ra else 0, int(rb[-1]) if rb else 0
        s = x + y + carry
        ra, rb = ra[:-1], rb[:-1]
        step = f"{x}+{y}+{carry}={s}" if carry else f"{x}+{y}={s}"
        lines.append(f"{step} {ra or 0}+{rb or 0}" if ra or rb else step)
        carry = s // 10
    return Problem("add", f"What is {a} + {b}?", "\n".join(lines), str(a + b))


def _arith(rng: random.Random, level: float) -> Problem:
    n_terms = 3 if rng.random() > level * 0.6 else 4
    while True:
        nums = [rng.randint(1, 9) for _ in range(n_terms)]
        ops = [rng.choice("+-") for _ in range(n_terms - 1)]
        if rng.random() < 0.7:  # at most one product keeps every step small (<= 99)
            ops[rng.randrange(n_terms - 1)] = "*"
        vals, rest, lines = list(nums), list(ops), []
        if "*" in rest:
            i = rest.index("*")
            p = vals[i] * vals[i + 1]
            lines.append(f"{vals[i]}*{vals[i + 1]}={p}")
            vals[i : i + 2], rest[i : i + 1] = [p], []
        ok, acc = True, vals[0]
        for op, v in zip(rest, vals[1:]):
            new = acc + v if op == "+" else acc - v
            lines.append(f"{acc}{op}{v}={new}")
            acc, ok = new, ok and new >= 0
        if ok:
            expr = " ".join(f"{n} {o}" for n, o in zip(nums, ops)) + f" {nums[-1]}"
            return Problem("arith", f"What is {expr}?", "\n".join(lines), str(acc))


def _count(rng: random.Random, level: float) -> Problem:
    if rng.random() < 0.5:
        word = rng.choice(_WORDS)
        letter = rng.choice(word) if rng.random() < 0.8 else rng.choice(string.ascii_lowercase)
    else:
        length = rng.randint(4, 5 + round(4 * level))  # 4..9 letters
        letter = rng.choice(string.ascii_lowercase)
        k = rng.randint(0, min(4, length - 1))
        others = [c for c in string.ascii_lowercase if c != letter]
        chars = [rng.choice(others) for _ in range(length - k)] + [letter] * k
        rng.shuffle(chars)
        word = "".join(chars)
    lines, n = [], 0
    for c in word:  # spell the word; a matching letter gets the running count
        if c == letter:
            n += 1
            lines.append(f"{c} {n}")
        else:
            lines.append(c)
    return Problem("count", f"How many {letter} in {word}?", "\n".join(lines), str(n))


def _compare(rng: random.Random, level: float) -> Problem:
    nd = rng.randint(2, 3 + round(2 * level))  # 2..5 digits
    a = rng.randint(10 ** (nd - 1), 10**nd - 1)
    # share a random prefix so the answer hinges on a digit in the middle
    keep = rng.randint(0, nd - 1)
    sa = str(a)
    while True:
        tail = "".join(rng.choice(string.digits) for _ in range(nd - keep))
        sb = (sa[:keep] + tail) if keep else str(rng.randint(10 ** (nd - 1), 10**nd - 1))
        if sb != sa and sb[0] != "0":
            break
    lines = []
    for x, y in zip(sa, sb):
        if x == y:
            lines.append(f"{x}={y}")
        else:
            lines.append(f"{x}{'>' if x > y else '<'}{y}")
            break
    return Problem("compare", f"Which is larger, {sa} or {sb}?", "\n".join(lines), max(sa, sb))


def _sort(rng: random.Random, level: float) -> Problem:
    n = rng.randint(3, 4 + round(3 * level))  # 3..7 distinct digits
    items = rng.sample(range(10), n)
    lines = [f"{d} {'yes' if d in items else 'no'}" for d in range(10)]
    question = "Sort " + " ".join(map(str, items)) + "."
    return Problem("sort", question, "\n".join(lines), " ".join(map(str, sorted(items))))


def _mul(rng: random.Random, level: float) -> Problem:
    lo = 2 + round(level)  # 2..3 digits at small levels, 3..4 at evaluation size
    na, nb = rng.randint(lo, lo + 1), rng.randint(lo, lo + 1)
    a, b = rng.randint(10 ** (na - 1), 10**na - 1), rng.randint(10 ** (nb - 1), 10**nb - 1)
    # without the tool there is no trace that helps: the model says so, then guesses
    return Problem(
        "mul",
        f"What is {a} * {b}?",
        "I have no tool for this.",
        str(multiply(a, b)),
        tool="multiply",
        arguments=(("a", a), ("b", b)),
    )


_MAKERS = {"add": _add, "arith": _arith, "count": _count, "compare": _compare, "sort": _sort, "mul": _mul}


def _check_families(families: Sequence[str] | None) -> list[str]:
    if families is None:
        return list(HEAD_FAMILIES)
    if isinstance(families, str):
        families = [families]
    bad = [f for f in families if f not in FAMILIES]
    if bad or not families:
        raise ValueError(f"unknown task families {bad}; choose from {list(FAMILIES)}")
    return list(families)


def generate_problem(family: str, rng: random.Random, level: float = 1.0) -> Problem:
    """One problem of ``family`` drawn from ``rng``; ``level`` in (0, 1] scales its size (1 = evaluation)."""
    if family not in _MAKERS:
        raise ValueError(f"unknown task family {family!r}; choose from {list(FAMILIES)}")
    if not 0.0 <= level <= 1.0:
        raise ValueError(f"level must be in [0, 1], got {level}")
    return _MAKERS[family](rng, level)


def make_problems(n: int, seed: int, families: Sequence[str] | None = None) -> list[Problem]:
    """``n`` problems cycling through ``families``, reproducible from ``seed``.

    Default: every family answered without a tool (``HEAD_FAMILIES``); name ``"mul"`` to get tool problems.
    """
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    fams = _check_families(families)
    rng = random.Random(seed)
    return [generate_problem(fams[i % len(fams)], rng) for i in range(n)]


def extract_answer(text: str) -> str:
    """The answer part of a generated assistant turn (``thinking.verdict.answer_text``)."""
    return answer_text(text)


def score(problem: Problem, answer_text: str) -> bool:
    """True when ``answer_text`` (a bare answer or a whole assistant turn) is exactly the problem's answer
    (``thinking.verdict.is_right(..., exact=True)``: the bundled model answers tersely)."""
    if not isinstance(answer_text, str):
        raise TypeError(f"answer_text must be a str, got {type(answer_text).__name__}")
    return is_right(problem.answer, extract_answer(answer_text), exact=True)
