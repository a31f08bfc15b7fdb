"""generate() and generate_batch(): the public calls that render the chat prompt (thinking or not, with or
without tools), run it through the engine with the thinking budget, and return ``Generation``s (thinking text,
answer text, tool calls, token counts, why it stopped, timings, and optionally the routing trace with every
token labelled prompt/thinking/tool_call/answer).

Each takes a ``GenerationOptions`` and/or its fields as keywords (``request.takes_options``); ``engine.run``
does the rest. Knows nothing about widgets or figures.

    g = generate(model, tok, "What is 478 + 356?", budget=16)
    g.thinking_tokens <= 16, g.finish_reason, g.answer
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .engine import run
from .request import GenerationOptions, make_request, takes_options
from .result import Generation
from .template import PromptLike
from .tools import Tool, tool_schemas


@takes_options()
def generate(
    model: Any,
    tokenizer: Any,
    prompt_or_messages: PromptLike,
    *,
    options: GenerationOptions,
    tools: Sequence[Tool] | None = None,
) -> Generation:
    """Generate one assistant turn, thinking first (``thinking=True``) or answering at once.

    Args:
        prompt_or_messages: a user string, or chat messages (``/think`` / ``/no_think`` honoured).
        options: a ``GenerationOptions``, and/or its fields as keywords (``thinking``, ``budget`` (one int or
            None here), ``max_new_tokens``, ``min_thinking``, ``stop_text``, ``do_sample``, ``temperature``,
            ``top_p``, ``top_k``, ``seed``, ``capture``, ``timeout``; documented there).
        tools: functions (typed, with a Google-style docstring) or JSON schemas the chat template offers the
            model; its calls are parsed into ``Generation.tool_calls`` (``run_agent`` also calls them).
    """
    options.one_budget("generate", "; use generate_batch for one per prompt")
    return run(model, tokenizer, make_request(model, tokenizer, [prompt_or_messages], options, tool_schemas(tools)))[0]


@takes_options()
def generate_batch(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[PromptLike],
    *,
    options: GenerationOptions,
    tools: Sequence[Tool] | None = None,
) -> list[Generation]:
    """``generate`` for many prompts in one left-padded batch; ``budget`` may be one value per prompt.

    With ``capture`` each Generation gets the trace of its own row (rows that finished early stop being
    recorded: the padding a batch feeds them is not tokens).
    """
    if isinstance(prompts, str) or not isinstance(prompts, Sequence) or not prompts:
        raise TypeError("prompts must be a non-empty list of prompts (str or message lists)")
    return run(model, tokenizer, make_request(model, tokenizer, list(prompts), options, tool_schemas(tools)))
