"""A model's tool call is untrusted input: arguments are checked against the function's signature before it
runs, results become bounded text, every failure goes back to the model as a tool message the episode goes on
from, and ``max_turns`` / ``max_calls`` bound what runs. The scripted random model (``qwen3.scripted``) writes
the calls; loop, parser, template and engine run for real. Results that used to crash or stall the loop
(10**5000, a list nested 3 000 deep, a raising ``__str__``, 10 MB) run in a subprocess under a memory limit."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from qwen3 import qwen3_moe, qwen3_tokenizer, scripted, turns
from qwen3 import tool_call as call

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bounded import run_bounded  # noqa: E402

from qnext_lab.thinking.agent import run_agent  # noqa: E402
from qnext_lab.thinking.tool_arguments import MAX_RESULT_CHARS, check_arguments, result_text  # noqa: E402
from qnext_lab.thinking.tools import ToolCall, call_tool  # noqa: E402


def multiply(a: int, b: int) -> int:
    """Multiply two integers.

    Args:
        a: the first factor
        b: the second factor
    """
    return a * b


def scale(x: float, factors: list[int], label: str | None = None) -> str:
    """Scale.

    Args:
        x: a number
        factors: integers
        label: optional text
    """
    return f"{label}: {x * sum(factors)}"


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        ({"a": "abc", "b": 3}, "argument 'a' must be an integer, got the str"),
        ({"a": 3.7, "b": 3}, "argument 'a' must be an integer, got the float 3.7"),
        ({"a": True, "b": 3}, "argument 'a' must be an integer, got the bool True"),
        ({"a": [1, 2], "b": 3}, "argument 'a' must be an integer, got the list"),
        ({"a": "x", "b": 10**9}, "argument 'a' must be an integer"),  # used to build a 1 GB string
        ({"a": 2**70, "b": 1}, "within int64"),
        ({"a": 1}, "needs the argument 'b'"),
        ({"a": 1, "b": 2, "c": 3}, "takes no argument 'c'"),
    ],
)
def test_arguments_that_do_not_fit_the_signature_never_reach_the_function(arguments, words):
    ran = []

    def spy(a: int, b: int) -> int:
        ran.append((a, b))
        return a * b

    content, error = call_tool(ToolCall("spy", arguments, (0, 1), ""), {"spy": spy})
    assert error is not None and words in error and content == f"error: {error}" and ran == []


def test_typed_containers_optionals_and_floats():
    assert check_arguments(scale, "scale", {"x": 2, "factors": [1, 2]}) is None  # an int is a float
    assert check_arguments(scale, "scale", {"x": 2.5, "factors": [], "label": None}) is None
    assert "item 1 must be an integer" in check_arguments(scale, "scale", {"x": 1, "factors": [1, "2"]})
    assert "must be str or NoneType" in check_arguments(scale, "scale", {"x": 1, "factors": [], "label": 5})
    assert "must be a number" in check_arguments(scale, "scale", {"x": "1", "factors": []})
    assert "must be a finite number" in check_arguments(scale, "scale", {"x": float("nan"), "factors": []})


def test_results_are_cut_to_a_bounded_text():
    assert result_text({"a": [1, 2.5, None, True]}) == '{"a": [1, 2.5, null, true]}'
    long = result_text("x" * (MAX_RESULT_CHARS + 10))
    assert long.startswith("x" * MAX_RESULT_CHARS) and "cut" in long and len(long) < MAX_RESULT_CHARS + 100
    many = result_text(list(range(100_000)), 50)
    assert many.startswith("[0, 1, 2") and "cut" in many and len(many) < 150


DANGEROUS = r"""
import json, sys
from qnext_lab.thinking.tools import ToolCall, call_tool

class Bad:
    def __str__(self):
        raise RuntimeError("no text for you")

def deep():
    out = []
    for _ in range(3000):
        out = [out]
    return out

tools = {
    "power": lambda a, b: a ** b,
    "deep": deep,
    "bad": lambda: Bad(),
    "huge": lambda: "y" * 10_000_000,
    "huge_list": lambda: list(range(2_000_000)),
}
calls = {"power": {"a": 10, "b": 5000}, "deep": {}, "bad": {}, "huge": {}, "huge_list": {}}
for name, args in calls.items():
    content, error = call_tool(ToolCall(name, args, (0, 1), ""), tools)
    print(json.dumps({"case": name, "error": error, "length": len(content)}), flush=True)
"""


def test_results_that_cannot_be_text_become_tool_errors_in_bounded_memory():
    done = run_bounded(["-c", DANGEROUS], memory_bytes=3 << 30, timeout=300)
    rows = {r["case"]: r for r in map(json.loads, done.stdout.splitlines())}
    assert set(rows) == {"power", "deep", "bad", "huge", "huge_list"}, done.stderr[-2000:]
    assert "cannot be turned into text" in rows["power"]["error"] and "digits" in rows["power"]["error"]
    assert "nested deeper" in rows["deep"]["error"]
    assert "RuntimeError: no text for you" in rows["bad"]["error"]
    for big in ("huge", "huge_list"):
        assert rows[big]["error"] is None and rows[big]["length"] <= MAX_RESULT_CHARS + 100


# ------------------------------------------------------------------ whole episodes with a scripted model


@pytest.fixture(scope="module")
def tok():
    return qwen3_tokenizer()


@pytest.fixture(scope="module")
def model(tok):
    return qwen3_moe(tok)


def test_a_bad_argument_goes_back_to_the_model_and_the_episode_continues(model, tok):
    script = turns(tok, call(a="abc", b=3), call(a=2, b=3), "6")
    with scripted(model, script):
        run = run_agent(model, tok, "q", [multiply], max_turns=3, max_new_tokens=40, thinking=False)
    first, second = run.turns[0].results[0], run.turns[1].results[0]
    assert not first.ok and "must be an integer" in first.error and first.error in run.generations[1].prompt
    assert second.ok and second.content == "6" and run.answer == "6" and run.finish_reason == "answer"


def test_max_calls_bounds_the_calls_run_even_when_one_turn_writes_many(model, tok):
    many = "\n".join(call(a=i, b=2) for i in range(12))
    with scripted(model, turns(tok, many, "done")):
        run = run_agent(model, tok, "q", [multiply], max_turns=np.int64(1), max_new_tokens=400, thinking=False)
    results = run.turns[0].results
    assert len(results) == 12 and [r.ok for r in results] == [True] + [False] * 11
    assert all("max_calls=1" in r.error for r in results[1:])
    with scripted(model, turns(tok, many, "done")):
        run = run_agent(model, tok, "q", [multiply], max_turns=1, max_calls=3, max_new_tokens=400, thinking=False)
    assert sum(r.ok for r in run.turns[0].results) == 3


@pytest.mark.parametrize(("value", "error"), [(0, ValueError), (True, TypeError), (2.0, TypeError), ("2", TypeError)])
def test_max_turns_is_an_integer_in_range(model, tok, value, error):
    with pytest.raises(error, match="max_turns"):
        run_agent(model, tok, "q", [multiply], max_turns=value)
