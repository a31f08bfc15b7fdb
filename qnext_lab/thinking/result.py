"""Generation: the typed result of one generated turn, and how a row of generated ids becomes one.

A row is trimmed at its first end-of-turn token, labelled by the phase machine (``phases``), counted, split
into thinking and answer text, and its ``<tool_call>`` spans parsed (``tools.parse_tool_calls``). Every
field other modules read is a typed field here (no untyped dict). Knows nothing about ``model.generate``.

    gen = build_generation(tokenizer, request, 0, generated_ids, forced_flags, timing)
    gen.thinking_tokens, gen.answer, gen.tool_calls
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..trace.phases import ANSWER, THINKING
from .budget import Budget
from .phases import label_tokens
from .request import GenerationOptions, Prepared, Request
from .tools import ToolCall, parse_tool_calls
from .verdict import budget_closed


@dataclass
class Generation:
    """The result of one generation. Token counts exclude the forced stop text, the think delimiters and the
    end-of-turn token; tool-call spans (tags included) are counted in ``tool_call_tokens`` only.

    ``finish_reason``: "eos" (the turn ended by itself), "budget" (the budget closed the thinking, then the
    turn ended), "max_new_tokens" (cut off), "stopped" (a stream was closed).
    """

    prompt: str
    prompt_ids: list[int]
    token_ids: list[int]  # generated tokens, end-of-turn included, padding excluded
    labels: list[str]  # per generated token: "thinking", "answer" or "tool_call"
    forced: list[bool]  # per generated token: part of the stop text the budget forced
    thinking: str
    answer: str
    thinking_tokens: int
    answer_tokens: int
    finish_reason: str  # "eos" | "budget" | "max_new_tokens" | "stopped"
    thinking_mode: bool  # effective mode (after /no_think)
    budget: Budget
    ttft_s: float  # time to first generated token
    seconds: float  # whole generation
    options: GenerationOptions  # what it was generated with
    start_state: str  # phase at the end of the prompt ("pre", "thinking" or "answer")
    max_new_tokens: int  # the resolved cap
    stop_text: str | None = None  # the stop text a budget forces (resolved), None without a budget processor
    text: str = ""  # everything generated, decoded with special tokens
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_tokens: int = 0
    tools: tuple[dict, ...] = ()  # the JSON schemas the prompt offered
    trace: Any = None  # RoutingTrace when capture=True
    reused: bool = False  # answer_at_budget: the cached run already was this budget's run (no model call)
    generated_tokens: int | None = None  # tokens this call generated (answer_at_budget: its continuation); None: all

    @property
    def total_tokens(self) -> int:
        return len(self.token_ids)

    @property
    def tokens_per_s(self) -> float:
        """Tokens this call generated per second of ``seconds`` (a re-answer from a cached run counts only the
        tokens it generated itself, not the cached thinking it reused)."""
        n = len(self.token_ids) if self.generated_tokens is None else self.generated_tokens
        return n / self.seconds if self.seconds > 0 else float("nan")

    @property
    def budget_hit(self) -> bool:
        """Whether the budget cut the thinking (``verdict.budget_closed``)."""
        return budget_closed(self.forced, self.labels)

    def __repr__(self) -> str:
        calls = f", tool_calls={[c.name for c in self.tool_calls]}" if self.tool_calls else ""
        return (
            f"Generation(thinking_tokens={self.thinking_tokens}, answer_tokens={self.answer_tokens}, "
            f"finish_reason={self.finish_reason!r}, answer={self.answer[:60]!r}{calls})"
        )


def trim_row(generated: Sequence[int], eos: Sequence[int]) -> tuple[list[int], bool]:
    """Generated ids up to and including the first end-of-turn token; whether one was found."""
    out = []
    for t in generated:
        out.append(int(t))
        if t in eos:
            return out, True
    return out, False


@dataclass(frozen=True)
class Timing:
    ttft_s: float
    seconds: float
    stopped: bool = False  # a stream was closed before the end


def build_generation(
    tokenizer: Any,
    request: Request,
    row: int,
    generated: Sequence[int],
    forced: Sequence[bool],
    timing: Timing,
    *,
    prepared: Prepared | None = None,
    stop_text: str | None = None,
) -> Generation:
    """Label, count, decode and parse one row of generated ids (``prepared`` overrides the request's row)."""
    prepared = prepared or request.prepared[row]
    tokens, eos = request.tokens, request.eos
    ids, ended = trim_row(generated, eos)
    flags = [bool(f) for f in forced[: len(ids)]]
    labels, phase = label_tokens(ids, tokens, prepared.state, flags)
    skip = set(eos) | ({tokens.start_id, tokens.end_id} if tokens.has_think else set())

    def text_of(label: str) -> str:
        keep = [t for t, lab, f in zip(ids, labels, flags) if lab == label and not f and t not in skip]
        return tokenizer.decode(keep, skip_special_tokens=True).strip()

    reason = (
        ("budget" if budget_closed(flags, labels) else "eos")
        if ended
        else ("stopped" if timing.stopped else "max_new_tokens")
    )
    return Generation(
        prompt=prepared.text,
        prompt_ids=list(prepared.ids),
        token_ids=ids,
        labels=labels,
        forced=flags,
        thinking=text_of(THINKING),
        answer=text_of(ANSWER),
        thinking_tokens=phase.thinking_tokens,
        answer_tokens=phase.answer_tokens,
        finish_reason=reason,
        thinking_mode=prepared.thinking,
        budget=request.budgets[row],
        ttft_s=timing.ttft_s,
        seconds=timing.seconds,
        options=request.options,
        start_state=prepared.state,
        max_new_tokens=request.max_new_tokens,
        stop_text=stop_text,
        text=tokenizer.decode(ids, skip_special_tokens=False),
        tool_calls=parse_tool_calls(tokenizer, ids, labels, request.tools),
        tool_call_tokens=phase.tool_call_tokens,
        tools=request.tools,
    )
