"""A model's tool call is untrusted input: its arguments checked against the function's signature before the
function runs, and the function's result turned into bounded text after.

``check_arguments(function, name, arguments)`` returns None or an error the model reads: an argument the
function does not take, a required one missing, or a value that does not fit the type hint (``int`` means an
integer, never a bool, float or string, within int64 as JSON engines read it; ``float`` takes ints and floats,
finite; ``str``, ``bool``, ``list[...]``, ``dict[str, ...]``, ``tuple``, ``X | None``, ``Literal[...]``;
unannotated or ``Any`` takes anything). ``result_text(result, max_chars)`` writes a result as JSON (strings as
they are) with a budget of ``max_chars`` characters and a nesting limit, so a 10 MB result, a list nested
3 000 deep or an int with 5 000 digits cannot stall or crash the loop: the text is cut with a note, or the
caller gets an exception to turn into a tool error. Knows nothing about models or templates.

    error = check_arguments(multiply, "multiply", {"a": "abc", "b": 2})   # "argument 'a' must be an int..."
    text = result_text({"rows": rows}, 16_000)
"""

from __future__ import annotations

import inspect
import json
import math
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["MAX_DEPTH", "MAX_RESULT_CHARS", "check_arguments", "result_text"]

MAX_RESULT_CHARS = 16_000  # a tool message longer than this is cut (a few thousand tokens of context)
MAX_DEPTH = 64  # nesting of lists/dicts in a result
_INT64 = 2**63


def _describe(value: Any) -> str:
    kind = "the bool" if isinstance(value, bool) else f"the {type(value).__name__}"
    text = json.dumps(value, ensure_ascii=False, default=str) if not isinstance(value, (int, float)) else repr(value)
    return f"{kind} {text[:60]}{'...' if len(text) > 60 else ''}"


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _fits(value: Any, hint: Any, depth: int = 0) -> str | None:
    """None if ``value`` fits ``hint``, else what is wrong."""
    if hint is Any or hint is inspect.Parameter.empty or depth > MAX_DEPTH:
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if any(_fits(value, a, depth + 1) is None for a in args):
            return None
        return f"must be {' or '.join(_type_name(a) for a in args)}, got {_describe(value)}"
    if origin is typing.Literal:
        return None if value in args and type(value) in {type(a) for a in args} else f"must be one of {list(args)}"
    if hint is type(None):
        return None if value is None else f"must be null, got {_describe(value)}"
    if hint is bool:
        return None if isinstance(value, bool) else f"must be true or false, got {_describe(value)}"
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be an integer, got {_describe(value)}"
        return None if -_INT64 <= value < _INT64 else "must be an integer within int64 (|value| < 2**63)"
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"must be a number, got {_describe(value)}"
        return None if isinstance(value, int) or math.isfinite(value) else "must be a finite number"
    if hint is str:
        return None if isinstance(value, str) else f"must be a string, got {_describe(value)}"
    container = origin or hint
    if container in (list, tuple, set, frozenset) or container is typing.Sequence:
        if not isinstance(value, list):
            return f"must be an array, got {_describe(value)}"
        item = args[0] if args and (container is not tuple or len(args) == 2 and args[1] is Ellipsis) else Any
        if container is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                return f"must be an array of {len(args)} items, got {len(value)}"
            problems = [_fits(v, a, depth + 1) for v, a in zip(value, args)]
        else:
            problems = [_fits(v, item, depth + 1) for v in value]
        bad = next((i for i, p in enumerate(problems) if p is not None), None)
        return None if bad is None else f"item {bad} {problems[bad]}"
    if container in (dict, Mapping) or container is typing.Mapping:
        if not isinstance(value, dict):
            return f"must be an object, got {_describe(value)}"
        item = args[1] if len(args) == 2 else Any
        for k, v in value.items():
            problem = _fits(v, item, depth + 1)
            if problem is not None:
                return f"key {k!r} {problem}"
        return None
    return None  # a class the JSON cannot be checked against (the function checks it itself)


def check_arguments(function: Callable[..., Any], name: str, arguments: Mapping[str, Any]) -> str | None:
    """None when ``function(**arguments)`` fits its signature and type hints, else the error for the model."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # a builtin without a signature: let the call itself decide
        return None
    try:
        hints = typing.get_type_hints(function)
    except Exception:  # noqa: BLE001 - unresolvable annotations: check names only
        hints = {}
    params = signature.parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    named = {
        n: p
        for n, p in params.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    unknown = [a for a in arguments if a not in named and not takes_any]
    if unknown:
        return f"{name} takes no argument {unknown[0]!r}; its arguments are {', '.join(named) or 'none'}"
    missing = [n for n, p in named.items() if p.default is inspect.Parameter.empty and n not in arguments]
    missing += [n for n, p in params.items() if p.kind is inspect.Parameter.POSITIONAL_ONLY and p.default is p.empty]
    if missing:
        return f"{name} needs the argument {missing[0]!r}"
    for arg, value in arguments.items():
        problem = _fits(value, hints.get(arg, Any))
        if problem is not None:
            return f"{name}: argument {arg!r} {problem}"
    return None


class _Full(Exception):
    """The text budget is spent."""


def _write(value: Any, out: list[str], left: list[int], depth: int) -> None:
    if left[0] <= 0:
        raise _Full
    if depth > MAX_DEPTH:
        raise ValueError(f"the result is nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, (bool, float)):
        text = json.dumps(value)
    elif isinstance(value, int):
        text = str(value)  # ValueError past Python's int-to-str digit limit (4300 digits)
    elif isinstance(value, str):
        text = json.dumps(value[: left[0]], ensure_ascii=False)
    elif isinstance(value, Mapping):
        out.append("{")
        left[0] -= 1
        for i, (k, v) in enumerate(value.items()):
            if i:
                out.append(", ")
            _write(k if isinstance(k, str) else str(k), out, left, depth + 1)
            out.append(": ")
            _write(v, out, left, depth + 1)
        text = "}"
    elif isinstance(value, (list, tuple)):
        out.append("[")
        left[0] -= 1
        for i, v in enumerate(value):
            if i:
                out.append(", ")
            _write(v, out, left, depth + 1)
        text = "]"
    else:
        text = str(value)[: left[0]]  # numpy arrays, tensors, objects: their own text (may raise)
    out.append(text)
    left[0] -= len(text)


def result_text(result: Any, max_chars: int = MAX_RESULT_CHARS) -> str:
    """A tool's result as the text of its ``tool`` message: strings as they are, anything else as JSON
    (objects by their ``str``), at most ``max_chars`` characters (then a note says how it was cut). Raises
    ValueError/RecursionError/whatever a result's ``__str__`` raises when it cannot be written."""
    if isinstance(result, str):
        if len(result) <= max_chars:
            return result
        return result[:max_chars] + f"\n[... cut: the result has {len(result):,} characters, {max_chars:,} shown]"
    out: list[str] = []
    try:
        _write(result, out, [max_chars], 0)
    except _Full:
        return "".join(out)[:max_chars] + f"\n[... cut: the result is longer than {max_chars:,} characters]"
    text = "".join(out)
    return text if len(text) <= max_chars else text[:max_chars] + f"\n[... cut at {max_chars:,} characters]"
