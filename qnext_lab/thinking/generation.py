"""generate() and generate_batch(): the public calls that render the chat prompt (thinking or not, with or
without tools), run it through the engine with the thinking budget, and return ``Generation``s (thinking text,
answer text, tool calls, token counts, why it stopped, timings, and optionally the routing trace with every
token labelled prompt/thinking/tool_call/answer).

Each takes its options as explicit keywords and builds one ``GenerationOptions``; ``engine.run`` does the
rest. Knows nothing about widgets or figures.

    g = generate(model, tok, "What is 478 + 356?", budget=16)
    g.thinking_tokens <= 16, g.finish_reason, g.answer
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .budget import Budget
from .engine import run
from .request import GenerationOptions, make_request
from .result import Generation
from .template import PromptLike
from .tools import Tool, tool_schemas


def generate(
    model: Any,
    tokenizer: Any,
    prompt_or_messages: PromptLike,
    *,
    thinking: bool = True,
    budget: int | None = None,
    max_new_tokens: int | None = None,
    min_thinking: int | None = None,
    stop_text: str | None = None,
    do_sample: bool = False,
    temperature: float | None = None,
    top_p: float | None = None,
    top_k: int | None = None,
    seed: int | None = None,
    capture: bool = False,
    tools: Sequence[Tool] | None = None,
    timeout: float | None = None,
) -> Generation:
    """Generate one assistant turn, thinking first (``thinking=True``) or answering at once.

    Args:
        prompt_or_messages: a user string, or chat messages (``/think`` / ``/no_think`` honoured).
        thinking: the hard switch (the template's ``enable_thinking``).
        budget: thinking tokens allowed (0 closes the think block at once; None unlimited).
        max_new_tokens: cap on generated tokens (default: 1024, within the model's context).
        min_thinking: s1-style minimum thinking tokens ("Wait" is forced when the model stops early).
        stop_text: forced when the budget runs out (default: the model's, else Qwen's documented text).
        do_sample, temperature, top_p, top_k, seed: sampling (greedy by default; Qwen's recommended
            settings for the mode fill whatever is left None; the seed never touches the global RNG).
        capture: record the routing of every token into ``Generation.trace`` (phases and token text set).
        tools: functions (typed, with a Google-style docstring) or JSON schemas the chat template offers the
            model; its calls are parsed into ``Generation.tool_calls`` (``run_agent`` also calls them).
        timeout: seconds to wait while another thread uses the model (None: as long as it takes).
    """
    if isinstance(budget, Sequence) and not isinstance(budget, (str, bytes)):
        raise TypeError("generate takes one budget (an int or None); use generate_batch for one per prompt")
    options = GenerationOptions(
        thinking=thinking,
        budget=budget,
        max_new_tokens=max_new_tokens,
        min_thinking=min_thinking,
        stop_text=stop_text,
        do_sample=do_sample,
        temperature=temperature,
        top_p=top_p,
        top_k=top_k,
        seed=seed,
        capture=capture,
        timeout=timeout,
    )
    return run(model, tokenizer, make_request(model, tokenizer, [prompt_or_messages], options, tool_schemas(tools)))[0]


def generate_batch(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[PromptLike],
    *,
    thinking: bool = True,
    budget: Budget | Sequence[Budget] = None,
    max_new_tokens: int | None = None,
    min_thinking: int | None = None,
    stop_text: str | None = None,
    do_sample: bool = False,
    temperature: float | None = None,
    top_p: float | None = None,
    top_k: int | None = None,
    seed: int | None = None,
    capture: bool = False,
    tools: Sequence[Tool] | None = None,
    timeout: float | None = None,
) -> list[Generation]:
    """``generate`` for many prompts in one left-padded batch; ``budget`` may be one value per prompt.

    With ``capture`` each Generation gets the trace of its own row (rows that finished early stop being
    recorded: the padding a batch feeds them is not tokens).
    """
    if isinstance(prompts, str) or not isinstance(prompts, Sequence) or not prompts:
        raise TypeError("prompts must be a non-empty list of prompts (str or message lists)")
    options = GenerationOptions(
        thinking=thinking,
        budget=budget,
        max_new_tokens=max_new_tokens,
        min_thinking=min_thinking,
        stop_text=stop_text,
        do_sample=do_sample,
        temperature=temperature,
        top_p=top_p,
        top_k=top_k,
        seed=seed,
        capture=capture,
        timeout=timeout,
    )
    return run(model, tokenizer, make_request(model, tokenizer, list(prompts), options, tool_schemas(tools)))
