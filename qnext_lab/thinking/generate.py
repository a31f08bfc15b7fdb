"""generate(): one call that renders the chat prompt for thinking or non-thinking, runs ``model.generate``
with the thinking budget, and returns a ``Generation`` (thinking text, answer text, token counts, why it
stopped, timings, and optionally the routing trace with every token labelled prompt/thinking/answer).

``generate_batch`` does the same for many prompts in one left-padded batch (the sweep uses it). Knows the
transformers generation API and the think-token convention; knows nothing about widgets or figures.

    g = generate(model, tok, "What is 478 + 356?", budget=16)
    g.thinking_tokens <= 16, g.finish_reason, g.answer
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

from .budget import Budget, ThinkingBudgetProcessor, check_budget
from .phases import ANSWER, PRE, THINKING, label_tokens
from .template import (
    PromptLike,
    ThinkTokens,
    eos_ids,
    has_think_tokens,
    opens_think,
    render_prompt,
    think_tokens,
    thinking_enabled,
    to_messages,
)

DEFAULT_MAX_NEW_TOKENS = 1024
# Qwen3's recommended sampling settings (used when do_sample=True and a setting is left as None).
QWEN_SAMPLING = {
    True: {"temperature": 0.6, "top_p": 0.95, "top_k": 20},  # thinking
    False: {"temperature": 0.7, "top_p": 0.8, "top_k": 20},  # non-thinking
}


@dataclass
class Generation:
    """The result of one generation. Token counts exclude the forced stop text and the think delimiters.

    ``finish_reason``: "eos" (the turn ended by itself), "budget" (the budget closed the thinking, then the
    turn ended), "max_new_tokens" (cut off), "stopped" (a stream was closed).
    """

    prompt: str
    prompt_ids: list[int]
    token_ids: list[int]  # generated tokens, end-of-turn included, padding excluded
    labels: list[str]  # per generated token: "thinking" or "answer"
    forced: list[bool]  # per generated token: part of the stop text the budget forced
    thinking: str
    answer: str
    thinking_tokens: int
    answer_tokens: int
    finish_reason: str  # "eos" | "budget" | "max_new_tokens" | "stopped"
    thinking_mode: bool
    budget: Budget
    ttft_s: float  # time to first generated token
    seconds: float  # whole generation
    text: str = ""  # everything generated, decoded with special tokens
    trace: Any = None  # RoutingTrace when capture=True
    meta: dict = field(default_factory=dict)

    @property
    def total_tokens(self) -> int:
        return len(self.token_ids)

    @property
    def tokens_per_s(self) -> float:
        return len(self.token_ids) / self.seconds if self.seconds > 0 else float("nan")

    @property
    def budget_hit(self) -> bool:
        return any(f and lab == THINKING for f, lab in zip(self.forced, self.labels))

    def __repr__(self) -> str:
        return (
            f"Generation(thinking_tokens={self.thinking_tokens}, answer_tokens={self.answer_tokens}, "
            f"finish_reason={self.finish_reason!r}, answer={self.answer[:60]!r})"
        )


# -- argument checking ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SamplingOptions:
    """Greedy by default; with ``do_sample`` each unset setting takes Qwen3's recommended value for the mode."""

    do_sample: bool = False
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.do_sample, bool):
            raise TypeError(f"do_sample must be True or False, got {self.do_sample!r}")
        if self.temperature is not None and not (isinstance(self.temperature, (int, float)) and self.temperature > 0):
            raise ValueError(f"temperature must be a positive number, got {self.temperature!r}")
        if self.top_p is not None and not (isinstance(self.top_p, (int, float)) and 0 < self.top_p <= 1):
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p!r}")
        if self.top_k is not None and (isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 0):
            raise ValueError(f"top_k must be an int >= 0, got {self.top_k!r}")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise TypeError(f"seed must be an int or None, got {self.seed!r}")

    def generate_kwargs(self, thinking: bool) -> dict[str, Any]:
        if not self.do_sample:
            return {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        qwen = QWEN_SAMPLING[thinking]
        return {
            "do_sample": True,
            "temperature": self.temperature if self.temperature is not None else qwen["temperature"],
            "top_p": self.top_p if self.top_p is not None else qwen["top_p"],
            "top_k": self.top_k if self.top_k is not None else qwen["top_k"],
        }


def context_length(model: Any) -> int | None:
    """The model's context in tokens (``max_position_embeddings``), None when the config has none."""
    return getattr(getattr(model, "config", None), "max_position_embeddings", None)


def check_lengths(model: Any, prompt_len: int, max_new_tokens: int | None) -> int:
    """``max_new_tokens`` resolved against the model's context; ValueError when the prompt does not fit."""
    ctx = context_length(model)
    if ctx is not None and prompt_len >= ctx:
        raise ValueError(f"the prompt is {prompt_len} tokens, longer than the model's context of {ctx}; shorten it")
    if max_new_tokens is None:
        return DEFAULT_MAX_NEW_TOKENS if ctx is None else min(DEFAULT_MAX_NEW_TOKENS, ctx - prompt_len)
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be a positive int, got {max_new_tokens!r}")
    if ctx is not None and prompt_len + max_new_tokens > ctx:
        raise ValueError(
            f"prompt ({prompt_len} tokens) + max_new_tokens ({max_new_tokens}) exceeds the model's context of "
            f"{ctx}; lower max_new_tokens to {ctx - prompt_len} or less"
        )
    return max_new_tokens


@dataclass(frozen=True)
class Prepared:
    """A rendered prompt and how its generated tokens are to be read."""

    text: str
    ids: list[int]
    thinking: bool  # effective mode (after /no_think)
    state: str  # phase at the end of the prompt


def prepare(tokenizer: Any, prompt: PromptLike, thinking: bool, tokens: ThinkTokens | None) -> Prepared:
    """Render and tokenize one prompt and work out the phase its generation starts in."""
    messages = to_messages(prompt)
    enabled = thinking_enabled(messages, thinking)
    text = render_prompt(tokenizer, messages, enabled)
    ids = list(tokenizer.encode(text, add_special_tokens=False))
    if tokens is None:
        state = ANSWER
    elif opens_think(text):
        state = THINKING if enabled else ANSWER
    else:
        state = PRE if enabled else ANSWER
    return Prepared(text, ids, enabled, state)


def left_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, P) input ids and attention mask, rows padded on the left."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)  # (B, P)
    mask = torch.zeros((len(rows), width), dtype=torch.long)  # (B, P)
    for i, r in enumerate(rows):
        if r:
            ids[i, width - len(r) :] = torch.tensor(list(r), dtype=torch.long)
            mask[i, width - len(r) :] = 1
    return ids, mask


def pad_id_of(tokenizer: Any, eos: Sequence[int]) -> int:
    """The tokenizer's pad id, else the first end-of-turn id (as transformers does)."""
    pad = getattr(tokenizer, "pad_token_id", None)
    return int(pad) if pad is not None else int(eos[0])


# -- running --------------------------------------------------------------------------------------------
class StepClock(StoppingCriteria):
    """Never stops on its own; records when the first token arrived and stops every row once ``stop`` is set."""

    def __init__(self) -> None:
        self.first_token_at: float | None = None
        self.stop = False

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
        return torch.full((input_ids.shape[0],), self.stop, dtype=torch.bool, device=input_ids.device)


def trim_row(generated: Sequence[int], eos: Sequence[int]) -> tuple[list[int], bool]:
    """Generated ids up to and including the first end-of-turn token; whether one was found."""
    out = []
    for t in generated:
        out.append(int(t))
        if t in eos:
            return out, True
    return out, False


def build_generation(
    tokenizer: Any,
    prepared: Prepared,
    tokens: ThinkTokens | None,
    eos: Sequence[int],
    generated: Sequence[int],
    forced: Sequence[bool],
    *,
    budget: Budget,
    ttft_s: float,
    seconds: float,
    stopped: bool = False,
) -> Generation:
    """Label, count and decode one row of generated ids."""
    ids, ended = trim_row(generated, eos)
    flags = list(forced[: len(ids)])
    if tokens is None:
        labels, thinking_n, answer_n = [ANSWER] * len(ids), 0, sum(t not in eos for t in ids)
    else:
        labels, row = label_tokens(ids, tokens, prepared.state, flags)
        thinking_n, answer_n = row.thinking_tokens, row.answer_tokens
    skip = set(eos) | ({tokens.start_id, tokens.end_id} if tokens else set())

    def text_of(label: str) -> str:
        keep = [t for t, lab, f in zip(ids, labels, flags) if lab == label and not f and t not in skip]
        return tokenizer.decode(keep, skip_special_tokens=True).strip()

    hit = any(f and lab == THINKING for f, lab in zip(flags, labels))
    reason = ("budget" if hit else "eos") if ended else ("stopped" if stopped else "max_new_tokens")
    return Generation(
        prompt=prepared.text,
        prompt_ids=list(prepared.ids),
        token_ids=ids,
        labels=labels,
        forced=flags,
        thinking=text_of(THINKING),
        answer=text_of(ANSWER),
        thinking_tokens=thinking_n,
        answer_tokens=answer_n,
        finish_reason=reason,
        thinking_mode=prepared.thinking,
        budget=budget,
        ttft_s=ttft_s,
        seconds=seconds,
        text=tokenizer.decode(ids, skip_special_tokens=False),
    )


@dataclass
class Request:
    """Everything ``run`` needs, checked."""

    prepared: list[Prepared]
    tokens: ThinkTokens | None
    eos: tuple[int, ...]
    budgets: list[Budget]
    min_thinking: int | None
    stop_text: str | None
    max_new_tokens: int
    sampling: SamplingOptions


def make_request(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[PromptLike],
    *,
    thinking: bool,
    budget: Budget | Sequence[Budget],
    max_new_tokens: int | None,
    min_thinking: int | None,
    stop_text: str | None,
    sampling: SamplingOptions,
) -> Request:
    """Check every argument of a generation (ValueError/TypeError here, before any model call)."""
    if not isinstance(thinking, bool):
        raise TypeError(f"thinking must be True or False, got {thinking!r}")
    if isinstance(budget, Sequence) and not isinstance(budget, str):
        budgets = [check_budget(b) for b in budget]
        if len(budgets) != len(prompts):
            raise ValueError(f"{len(budgets)} budgets for {len(prompts)} prompts")
    else:
        budgets = [check_budget(budget)] * len(prompts)
    min_thinking = check_budget(min_thinking, "min_thinking")
    if not thinking and (any(b is not None for b in budgets) or min_thinking is not None):
        raise ValueError("budget and min_thinking need thinking=True; with thinking=False nothing is thought")
    # thinking needs the think tokens (clear error if missing); without thinking they only label output
    tokens = think_tokens(tokenizer, model) if thinking or has_think_tokens(tokenizer) else None
    prepared = [prepare(tokenizer, p, thinking, tokens) for p in prompts]
    for p, b in zip(prepared, budgets):
        if not p.thinking and (b is not None or min_thinking is not None):
            raise ValueError(
                "the messages turn thinking off with /no_think, so budget and min_thinking cannot apply; "
                "remove /no_think or the budget"
            )
    max_new = check_lengths(model, max(len(p.ids) for p in prepared), max_new_tokens)
    eos = tokens.eos_ids if tokens else eos_ids(tokenizer, model)
    return Request(prepared, tokens, eos, budgets, min_thinking, stop_text, max_new, sampling)


def make_processor(model: Any, tokenizer: Any, req: Request) -> ThinkingBudgetProcessor | None:
    """The budget processor ``req`` needs, or None when no row has a budget or minimum."""
    if req.tokens is None or (all(b is None for b in req.budgets) and req.min_thinking is None):
        return None
    return ThinkingBudgetProcessor(
        tokenizer, req.budgets, stop_text=req.stop_text, model=model, min_thinking=req.min_thinking
    )


def run(
    model: Any,
    tokenizer: Any,
    req: Request,
    *,
    processor: ThinkingBudgetProcessor | None = None,
    clock: StepClock | None = None,
    streamer: Any = None,
    extra_processors: Sequence[Any] = (),
) -> list[Generation]:
    """Run one left-padded batch through ``model.generate`` and build a Generation per row."""
    pad = pad_id_of(tokenizer, req.eos)
    input_ids, mask = left_pad([p.ids for p in req.prepared], pad)  # (B, P)
    device = next(model.parameters()).device
    proc = processor if processor is not None else make_processor(model, tokenizer, req)
    processors = LogitsProcessorList([*extra_processors, *([proc] if proc else [])])
    clock = clock or StepClock()
    thinking_any = any(p.thinking for p in req.prepared)
    start = time.perf_counter()
    with torch.inference_mode(), torch.random.fork_rng(devices=[]):
        if req.sampling.seed is not None:
            torch.manual_seed(req.sampling.seed)
        out = model.generate(
            input_ids=input_ids.to(device),
            attention_mask=mask.to(device),
            max_new_tokens=req.max_new_tokens,
            logits_processor=processors,
            stopping_criteria=StoppingCriteriaList([clock]),
            streamer=streamer,
            eos_token_id=list(req.eos),
            pad_token_id=pad,
            **req.sampling.generate_kwargs(thinking_any),
        )
    seconds = time.perf_counter() - start
    ttft = (clock.first_token_at - start) if clock.first_token_at else seconds
    generated = out[:, input_ids.shape[1] :].tolist()  # (B, G)
    results = []
    for r, (p, g) in enumerate(zip(req.prepared, generated)):
        forced = proc.forced_mask(r, len(g)) if proc else [False] * len(g)
        gen = build_generation(
            tokenizer, p, req.tokens, req.eos, g, forced,
            budget=req.budgets[r], ttft_s=ttft, seconds=seconds, stopped=clock.stop,
        )
        gen.meta.update(
            state=p.state, max_new_tokens=req.max_new_tokens, do_sample=req.sampling.do_sample,
            min_thinking=req.min_thinking, stop_text=proc.stop_text if proc else req.stop_text,
        )
        results.append(gen)
    return results


# -- public ---------------------------------------------------------------------------------------------
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
            settings for the mode fill whatever is left None).
        capture: record the routing of every token into ``Generation.trace`` (phases and token text set).
    """
    if not isinstance(capture, bool):
        raise TypeError(f"capture must be True or False, got {capture!r}")
    if isinstance(budget, Sequence):
        raise TypeError("generate takes one budget (an int or None); use generate_batch for one per prompt")
    sampling = SamplingOptions(do_sample, temperature, top_p, top_k, seed)
    req = make_request(
        model, tokenizer, [prompt_or_messages], thinking=thinking, budget=budget, max_new_tokens=max_new_tokens,
        min_thinking=min_thinking, stop_text=stop_text, sampling=sampling,
    )
    if not capture:
        return run(model, tokenizer, req)[0]
    from qnext_lab.trace.capture import capture as capture_routing

    with capture_routing(model) as trace:
        gen = run(model, tokenizer, req)[0]
    gen.trace = label_trace(trace, tokenizer, gen)
    return gen


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
) -> list[Generation]:
    """``generate`` for many prompts in one left-padded batch; ``budget`` may be one value per prompt."""
    if isinstance(prompts, str) or not isinstance(prompts, Sequence) or not prompts:
        raise TypeError("prompts must be a non-empty list of prompts (str or message lists)")
    sampling = SamplingOptions(do_sample, temperature, top_p, top_k, seed)
    req = make_request(
        model, tokenizer, list(prompts), thinking=thinking, budget=budget, max_new_tokens=max_new_tokens,
        min_thinking=min_thinking, stop_text=stop_text, sampling=sampling,
    )
    return run(model, tokenizer, req)


def label_trace(trace: Any, tokenizer: Any, gen: Generation) -> Any:
    """Set ``trace.phase`` (0 prompt, 1 thinking, 2 answer) and ``trace.tokens`` from ``gen``'s labels."""
    from .phases import PHASE_CODES

    full_ids = gen.prompt_ids + gen.token_ids
    codes = [PHASE_CODES["prompt"]] * len(gen.prompt_ids) + [PHASE_CODES[lab] for lab in gen.labels]
    positions = trace.position.tolist()
    if any(p >= len(full_ids) for p in positions):
        raise RuntimeError("the routing trace holds more tokens than the generation; was the model shared?")
    trace.phase = torch.tensor([codes[p] for p in positions], dtype=torch.int8)
    trace.tokens = [tokenizer.decode([full_ids[p]], skip_special_tokens=False) for p in positions]
    return trace
