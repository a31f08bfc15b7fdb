"""Tools: JSON schemas from Python functions, tool calls parsed out of a generation, and calling them safely.

- ``tool_schemas``: tools given as typed, documented Python functions (transformers' ``get_json_schema``
  turns them into JSON schemas) or as JSON schemas; what the chat template renders.
- ``parse_tool_calls``: each ``<tool_call>`` ... ``</tool_call>`` span the phase machine labelled is parsed
  by transformers' ``tokenizer.parse_response``, with the tokenizer's own ``response_template`` when it has
  one, else Qwen3's (the format of Qwen3, Qwen3-Next and the bundled model:
  ``<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>``). Arguments are cast by the tool's schema.
  A span that does not parse becomes a ``ToolCall`` with ``error`` set, never an exception.
- ``call_tool``: runs one call; an unknown tool, a malformed call, arguments that do not fit the function's
  signature (``tool_arguments.check_arguments``: ``int`` means an int, never a bool, float or string), a
  function that raises, or a result that cannot be turned into text become an error text for the ``tool``
  message the model reads next; results become at most ``MAX_RESULT_CHARS`` characters (``result_text``).
Knows nothing about models or generation.

    schemas = tool_schemas([multiply])
    content, error = call_tool(ToolCall("multiply", {"a": 3, "b": 4}, (0, 9), "..."), {"multiply": multiply})
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from transformers.utils import get_json_schema

from ..trace.phases import TOOL_CALL
from .template import TOOL_CALL_START
from .tool_arguments import MAX_RESULT_CHARS, check_arguments, result_text

Tool = Callable[..., Any] | Mapping[str, Any]

# Qwen3's response format in transformers' declarative response_template language (the Qwen2/Qwen3 entry of
# transformers' serving fallbacks, transformers/cli/serving/utils.py); used when a tokenizer has none.
QWEN3_RESPONSE_TEMPLATE: dict[str, Any] = {
    "defaults": {"role": "assistant"},
    "start_anchor": "<|im_start|>assistant\n",
    "fields": {
        "reasoning_content": {"open": "<think>", "close": "</think>", "content": "text"},
        "tool_calls": {
            "open_pattern": r"\s*<tool_call>",
            "close": "</tool_call>",
            "repeats": True,
            "content": "json",
            "transform": {"type": "function", "function": "{content}"},
        },
        "content": {"close_pattern": r"\s*(?:<\|im_end\|>|<\|endoftext\|>)", "content": "text"},
    },
}


@dataclass(frozen=True)
class ToolCall:
    """One tool call a model wrote: the tool's name, its arguments, and where it is in the generation.

    ``span`` is ``(start, stop)`` over ``Generation.token_ids`` (the ``<tool_call>`` tags included). A call
    that could not be parsed has ``name`` "" (or the name it gave), ``arguments`` {} and ``error`` saying why.
    """

    name: str
    arguments: dict[str, Any]
    span: tuple[int, int]
    text: str  # the span decoded, special tokens kept (untrusted)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def tool_schemas(tools: Sequence[Tool] | None) -> list[dict[str, Any]]:
    """JSON schemas for ``tools`` (functions or schemas), checked; TypeError/ValueError says what is wrong."""
    if tools is None:
        return []
    if isinstance(tools, (str, bytes, Mapping)) or not isinstance(tools, Sequence):
        raise TypeError(f"tools must be a list of functions or JSON schemas, got {type(tools).__name__}")
    schemas, names = [], set()
    for i, tool in enumerate(tools):
        if callable(tool):
            try:
                schema = get_json_schema(tool)
            except Exception as err:  # transformers' DocstringParsingException / TypeHintParsingException
                raise TypeError(
                    f"tool {i} ({getattr(tool, '__name__', tool)!r}) cannot be described to the model: {err}. "
                    "Give it type hints and a Google-style docstring with an Args: line per argument"
                ) from err
        elif isinstance(tool, Mapping):
            schema = dict(tool)
            if "function" not in schema and "name" in schema:
                schema = {"type": "function", "function": schema}
            function = schema.get("function")
            if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
                raise ValueError(
                    f"tool {i} is not a JSON schema of a function: expected {{'type': 'function', 'function': "
                    f"{{'name': ..., 'parameters': {{...}}}}}}, got {tool!r:.120}"
                )
        else:
            raise TypeError(f"tool {i} must be a function or a JSON schema dict, got {type(tool).__name__}")
        name = schema["function"]["name"]
        if name in names:
            raise ValueError(f"two tools are named {name!r}; tool names must be distinct")
        names.add(name)
        schemas.append(schema)
    return schemas


def tool_functions(tools: Sequence[Tool] | None) -> dict[str, Callable[..., Any]]:
    """The callable tools by the name their schema gives them (schemas alone cannot be called)."""
    functions = {}
    for tool, schema in zip(tools or [], tool_schemas(tools)):
        if callable(tool):
            functions[schema["function"]["name"]] = tool
    return functions


def tool_call_spans(token_ids: Sequence[int], labels: Sequence[str], tag: Sequence[int]) -> list[tuple[int, int]]:
    """``(start, stop)`` of each tool call: runs of "tool_call" labels, split where a ``<tool_call>`` tag
    (``tag``, its token ids) starts again (two calls back to back)."""
    tag = list(tag)
    spans, start = [], None
    for i, label in enumerate([*labels, ""]):
        opens = bool(tag) and list(token_ids[i : i + len(tag)]) == tag
        if start is not None and (label != TOOL_CALL or opens):
            spans.append((start, i))
            start = None
        if label == TOOL_CALL and start is None:
            start = i
    return spans


def response_template(tokenizer: Any) -> dict[str, Any]:
    """The tokenizer's own ``response_template``, else Qwen3's."""
    own = getattr(tokenizer, "response_template", None)
    return own if isinstance(own, Mapping) else QWEN3_RESPONSE_TEMPLATE


def parse_tool_calls(
    tokenizer: Any, token_ids: Sequence[int], labels: Sequence[str], schemas: Sequence[dict] = ()
) -> list[ToolCall]:
    """The tool calls in a generation, one per "tool_call" span, parsed by ``tokenizer.parse_response``."""
    calls = []
    template = response_template(tokenizer)
    tag = tokenizer.encode(TOOL_CALL_START, add_special_tokens=False)
    for start, stop in tool_call_spans(token_ids, labels, tag):
        text = tokenizer.decode(list(token_ids[start:stop]), skip_special_tokens=False)
        calls.append(_parse_one(tokenizer, template, text, (start, stop), schemas))
    return calls


def _parse_one(tokenizer: Any, template: dict, text: str, span: tuple[int, int], schemas: Sequence[dict]) -> ToolCall:
    try:
        parsed = tokenizer.parse_response(text, template, prefix="", tools=list(schemas) or None)
    except Exception as err:  # transformers raises ValueError on JSON it cannot read
        return ToolCall("", {}, span, text, f"the tool call is not valid JSON: {_first_line(err)}")
    found = parsed.get("tool_calls") or []
    if not found:
        return ToolCall(
            "",
            {},
            span,
            text,
            "the tool call is not closed with </tool_call>"
            if "</tool_call>" not in text
            else "the tool call holds no call",
        )
    function = found[0].get("function", found[0]) if isinstance(found[0], Mapping) else {}
    name = function.get("name") if isinstance(function, Mapping) else None
    arguments = function.get("arguments", {}) if isinstance(function, Mapping) else {}
    if isinstance(arguments, str):  # some formats carry the arguments as a JSON string
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError as err:
            return ToolCall(str(name or ""), {}, span, text, f"the arguments are not valid JSON: {err}")
    if not isinstance(name, str) or not name:
        return ToolCall("", {}, span, text, 'the tool call has no "name"')
    if not isinstance(arguments, Mapping):
        return ToolCall(name, {}, span, text, '"arguments" must be a JSON object')
    return ToolCall(name, dict(arguments), span, text)


def _first_line(err: BaseException) -> str:
    lines = [line for line in str(err).splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(err).__name__


def call_tool(
    call: ToolCall,
    functions: Mapping[str, Callable[..., Any]],
    offered: Sequence[str] = (),
    *,
    max_chars: int = MAX_RESULT_CHARS,
) -> tuple[str, str | None]:
    """Run ``call``; returns ``(content for the tool message, error or None)``. Never raises for the call's
    own faults (unknown tool, bad call, arguments that do not match the function's signature and type hints,
    the function raising, a result that cannot be turned into text): the model reads the error.
    ``offered``: names of tools the prompt offered as JSON schemas only (they cannot be run here).
    The content is at most ``max_chars`` characters (longer results are cut, with a note saying so)."""
    if call.error is not None:
        message = f"error: {call.error}"
        return message, call.error
    function = functions.get(call.name)
    if function is None and call.name in offered:
        error = f"tool {call.name!r} was offered as a JSON schema only, so it cannot be run; pass its function"
        return f"error: {error}", error
    if function is None:
        error = f"unknown tool {call.name!r}; available: {', '.join(sorted(functions)) or 'none'}"
        return f"error: {error}", error
    error = check_arguments(function, call.name, call.arguments)
    if error is not None:
        return f"error: {error}", error
    try:
        result = function(**call.arguments)
    except Exception as err:  # the model's call failed: tell the model, keep the run going
        error = f"{call.name} raised {type(err).__name__}: {_bounded_str(err, 500)}"
        return f"error: {error}", error
    try:
        return result_text(result, max_chars), None
    except Exception as err:  # noqa: BLE001 - a raising __str__, a too-long int, nesting: the model reads it
        error = f"{call.name} returned a {type(result).__name__} that cannot be turned into text ({type(err).__name__}: {_bounded_str(err, 300)})"
        return f"error: {error}", error


def _bounded_str(value: Any, limit: int) -> str:
    try:
        text = str(value)
    except Exception as err:  # noqa: BLE001 - an exception whose own __str__ raises
        return f"<{type(value).__name__} whose text raised {type(err).__name__}>"
    return text if len(text) <= limit else text[:limit] + "..."
