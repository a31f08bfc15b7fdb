"""Chat-template modes: which think and tool-call markers a tokenizer has, how a prompt (with or without
tools) is rendered for thinking or non-thinking, and which text closes a think block when a budget runs out.

Two template styles exist. Hybrid models (Qwen3, the bundled model) switch thinking with the template
variable ``enable_thinking`` (False appends an empty ``<think>\\n\\n</think>\\n\\n``) and honour the soft
switches ``/think`` and ``/no_think`` in user or system messages (the latest wins). Thinking-only
checkpoints (Qwen3-Next-Thinking) open ``<think>`` in the template themselves, so their output holds only
``</think>``. The soft switches are Qwen3's alone (its hybrid checkpoints were trained on them): Qwen3.5/3.6
templates keep ``enable_thinking`` but open ``<think>`` themselves, and their model cards say the soft switch
is not supported; Qwen3-Next and the 2507 checkpoints have no switch at all. ``render_prompt`` refuses
``/think`` / ``/no_think`` in the messages for a template of that kind (``supports_soft_switch``) rather than
sending the model a command it was never taught; use ``thinking=False``. Tools are rendered by the template
itself (``apply_chat_template(tools=...)``). Knows nothing about models or generation.

    tt = think_tokens(tok)                    # ThinkTokens(start_id=..., end_id=..., ...)
    text = render_prompt(tok, "What is 2 + 3?", thinking=True)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..runtime.template_guard import bounded_template

# Qwen's documented budget text (Qwen3 docs, "thinking budget"); used when neither the caller nor the
# model's generation_config gives one.
QWEN_STOP_TEXT = (
    "\n\nConsidering the limited time by the user, I have to give the solution based on the thinking "
    "directly now.\n</think>\n\n"
)
THINK_START = "<think>"
THINK_END = "</think>"
TOOL_CALL_START = "<tool_call>"  # Qwen3's tool-call format (also the bundled model's)
TOOL_CALL_END = "</tool_call>"

Messages = Sequence[Mapping[str, Any]]
PromptLike = str | Messages

_SOFT_SWITCH = re.compile(r"(?<!\S)/(no_think|think)(?![\w/])")


@dataclass(frozen=True)
class ThinkTokens:
    """Token ids of the markers a generated row is read by, all read from the tokenizer.

    ``start_id``/``end_id`` are None for a tokenizer without think tokens (then nothing is thinking). The
    tool-call tags are token sequences: one added token each in Qwen3's tokenizer, several characters in a
    character-level one.
    """

    start_id: int | None
    end_id: int | None
    eos_ids: tuple[int, ...]
    tool_start: tuple[int, ...] = ()
    tool_end: tuple[int, ...] = ()

    @property
    def has_think(self) -> bool:
        return self.start_id is not None and self.end_id is not None


def _token_id(tokenizer: Any, token: str) -> int | None:
    """The id of ``token`` as one vocabulary entry, None when the tokenizer has none (not the unknown id).

    ``convert_tokens_to_ids`` rather than ``get_vocab()``: the latter builds the whole vocabulary (0.7 s for
    Qwen3's 151k tokens) on every call."""
    found = tokenizer.convert_tokens_to_ids(token)
    unk = getattr(tokenizer, "unk_token_id", None)
    if found is None or (unk is not None and found == unk and token != getattr(tokenizer, "unk_token", None)):
        return None
    return int(found)


def eos_ids(tokenizer: Any, model: Any = None) -> tuple[int, ...]:
    """End-of-turn ids: the model's ``generation_config.eos_token_id`` (int or list), else the tokenizer's."""
    ids: list[int] = []
    config_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for source in (config_eos, getattr(tokenizer, "eos_token_id", None)):
        if source is None:
            continue
        for i in [source] if isinstance(source, int) else list(source):
            if int(i) not in ids:
                ids.append(int(i))
    if not ids:
        raise ValueError("neither the model's generation_config nor the tokenizer defines an eos token id")
    return tuple(ids)


def think_tokens(tokenizer: Any, model: Any = None, *, required: bool = True) -> ThinkTokens:
    """The marker ids of ``tokenizer``; ValueError when it has no ``<think>``/``</think>`` and ``required``."""
    start, end = _token_id(tokenizer, THINK_START), _token_id(tokenizer, THINK_END)
    if required and (start is None or end is None):
        missing = [t for t, i in ((THINK_START, start), (THINK_END, end)) if i is None]
        raise ValueError(
            f"this tokenizer has no {' / '.join(missing)} token, so thinking features (thinking=True, "
            "budget, min_thinking) cannot be used; use thinking=False or a tokenizer of a thinking model"
        )
    if start is None or end is None:
        start = end = None
    tool_start = tuple(tokenizer.encode(TOOL_CALL_START, add_special_tokens=False))
    tool_end = tuple(tokenizer.encode(TOOL_CALL_END, add_special_tokens=False))
    return ThinkTokens(start, end, eos_ids(tokenizer, model), tool_start, tool_end)


def has_think_tokens(tokenizer: Any) -> bool:
    return _token_id(tokenizer, THINK_START) is not None and _token_id(tokenizer, THINK_END) is not None


def to_messages(prompt_or_messages: PromptLike) -> list[dict[str, Any]]:
    """A user string becomes one user message; a message list is checked and copied.

    Each message needs a str ``role`` and a str ``content`` (an assistant message that only calls tools may
    have ``content`` None); other keys (``tool_calls``, ``name``, ``reasoning_content``) pass through.
    """
    if isinstance(prompt_or_messages, str):
        return [{"role": "user", "content": prompt_or_messages}]
    if not isinstance(prompt_or_messages, Sequence) or not prompt_or_messages:
        raise TypeError(
            "prompt_or_messages must be a str or a non-empty list of {'role': ..., 'content': ...} dicts, "
            f"got {type(prompt_or_messages).__name__}"
        )
    messages = []
    for i, m in enumerate(prompt_or_messages):
        if not isinstance(m, Mapping) or not isinstance(m.get("role"), str):
            raise TypeError(f"message {i} must be a dict with str 'role' and 'content', got {m!r:.80}")
        content = m.get("content")
        if not isinstance(content, str) and not (content is None and m["role"] == "assistant" and m.get("tool_calls")):
            raise TypeError(f"message {i} must be a dict with str 'role' and 'content', got {m!r:.80}")
        messages.append(dict(m))
    return messages


def soft_switch(messages: Messages) -> str | None:
    """``"think"``, ``"no_think"`` or None: the latest ``/think`` / ``/no_think`` in user or system messages."""
    latest = None
    for m in messages:
        if m["role"] in ("user", "system") and isinstance(m.get("content"), str):
            found = _SOFT_SWITCH.findall(m["content"])
            if found:
                latest = found[-1]
    return latest


def supports_soft_switch(tokenizer: Any) -> bool:
    """Whether ``/think`` / ``/no_think`` mean something to this chat template's model: a template that reads
    them itself, or Qwen3's hybrid style (``enable_thinking`` changes the prompt, and with thinking on the
    prompt ends at the assistant header, leaving ``<think>`` to the model). Qwen3.5/3.6 templates open
    ``<think>`` themselves, thinking-only and instruct-only templates ignore ``enable_thinking``: False."""
    template = getattr(tokenizer, "chat_template", None)
    if not isinstance(template, str):
        return False
    if "/no_think" in template:
        return True
    probe = [{"role": "user", "content": "hi"}]

    def render(enabled: bool) -> str:
        with bounded_template():  # the probe renders a stranger's template too
            return tokenizer.apply_chat_template(
                probe, tokenize=False, add_generation_prompt=True, enable_thinking=enabled
            )

    on = render(True)
    return on != render(False) and not opens_think(on)


def thinking_enabled(messages: Messages, thinking: bool) -> bool:
    """The effective mode: ``thinking`` is the hard switch; ``/no_think`` can only turn it off."""
    if not isinstance(thinking, bool):
        raise TypeError(f"thinking must be True or False, got {thinking!r}")
    return thinking and soft_switch(messages) != "no_think"


def render_prompt(
    tokenizer: Any, prompt_or_messages: PromptLike, thinking: bool = True, tools: Sequence[dict] | None = None
) -> str:
    """The chat-templated prompt text, ending where the assistant starts writing.

    ``tools`` are JSON schemas (``tools.tool_schemas`` makes them from functions); the template renders
    them, and a template that ignores them is refused (ValueError) rather than silently dropping the tools.
    With thinking off on a thinking-only template (one that opens ``<think>`` itself), the block is closed
    empty, exactly as a hybrid template does for ``enable_thinking=False``.
    """
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError("the tokenizer has no chat_template; set tokenizer.chat_template to render prompts")
    messages = to_messages(prompt_or_messages)
    switch = soft_switch(messages)
    if switch is not None and not supports_soft_switch(tokenizer):
        raise ValueError(
            f"/{switch} in the messages is Qwen3's soft switch, and this chat template's model does not take it "
            "(Qwen3.5/3.6 templates open <think> themselves and do not support it; Qwen3-Next and the 2507 "
            "checkpoints have no switch): it would reach the model as plain text. Remove it and use "
            "thinking=False (or True) instead"
        )
    enabled = thinking_enabled(messages, thinking)

    def render(with_tools: Sequence[dict] | None) -> str:
        with bounded_template():  # a template from a stranger's checkpoint may loop for hours
            return tokenizer.apply_chat_template(
                messages,
                tools=list(with_tools) if with_tools else None,
                tokenize=False,
                add_generation_prompt=True,
                enable_thinking=enabled,
            )

    text = render(tools)
    if tools and text == render(None):
        raise ValueError(
            "this tokenizer's chat template does not render tools (the prompt is the same with and without "
            "them), so the model would never see them; use a template with tool support (Qwen3's does)"
        )
    if not enabled and opens_think(text):
        text += ("\n" if text.endswith("\n") else "\n\n") + THINK_END + "\n\n"
    return text


def opens_think(text: str) -> bool:
    """Whether ``text`` ends inside an open think block (a thinking-only template's prompt)."""
    return text.rfind(THINK_START) > text.rfind(THINK_END)


def resolve_stop_text(stop_text: str | None, model: Any = None) -> str:
    """Stop text: the argument > ``model.generation_config.thinking_stop_text`` > Qwen's documented text."""
    if stop_text is None:
        stop_text = getattr(getattr(model, "generation_config", None), "thinking_stop_text", None)
    if stop_text is None:
        stop_text = QWEN_STOP_TEXT
    if not isinstance(stop_text, str):
        raise TypeError(f"stop_text must be a str, got {type(stop_text).__name__}")
    if THINK_START in stop_text:
        raise ValueError(f"stop_text must not contain {THINK_START!r}: it closes a think block")
    return stop_text


def stop_token_ids(tokenizer: Any, stop_text: str, tokens: ThinkTokens) -> list[int]:
    """The forced token sequence: ``stop_text`` tokenized, with ``</think>`` appended unless it holds one."""
    ids = list(tokenizer.encode(stop_text, add_special_tokens=False))
    if ids.count(tokens.end_id) > 1:
        raise ValueError(f"stop_text must contain {THINK_END!r} at most once, got {stop_text!r}")
    if tokens.end_id not in ids:
        ids.append(tokens.end_id)
    return ids
