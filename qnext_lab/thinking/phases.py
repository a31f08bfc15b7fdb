"""The per-row phase state machine: where a row of generated tokens stands (before the think block,
inside it, or answering), how many thinking and answer tokens it has produced, and the phase label of
each token.

One definition shared by the budget processor (live, one token per step), the parser that turns a
finished generation into thinking/answer text, the streamer, and the prefix replay of the sweep, so the
four always agree on what counts as a thinking token:
- ``<think>`` and ``</think>`` are labelled "thinking" but are delimiters, not counted;
- forced tokens (the stop text) are labelled by phase but never counted;
- an end-of-turn token ends the row and is not counted.
Knows nothing about models, tokenizer text or logits.

    row = RowPhase(tokens, state=initial_state(prompt_ids, tokens, tokenizer))
    labels = [row.observe(t) for t in generated_ids]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .template import ThinkTokens

PRE = "pre"  # thinking mode, the model has not opened <think> yet (hybrid templates)
THINKING = "thinking"
ANSWER = "answer"
PHASE_CODES = {"prompt": 0, THINKING: 1, ANSWER: 2}  # RoutingTrace.phase codes


@dataclass
class RowPhase:
    """Phase of one row; ``observe`` each generated token in order."""

    tokens: ThinkTokens
    state: str
    thinking_tokens: int = 0
    answer_tokens: int = 0
    done: bool = False

    def observe(self, token: int, forced: bool = False) -> str:
        """Advance by one generated token; return its label ("thinking" or "answer")."""
        tt = self.tokens
        if self.done:  # padding after the end of turn
            return ANSWER if self.state != THINKING else THINKING
        if token in tt.eos_ids:
            self.done = True
            return THINKING if self.state == THINKING else ANSWER
        if self.state == PRE:
            if token == tt.start_id:
                self.state = THINKING
                return THINKING
            self.state = ANSWER  # the model answered without thinking
        if self.state == THINKING:
            if token == tt.end_id:
                self.state = ANSWER
            elif not forced:
                self.thinking_tokens += 1
            return THINKING
        if not forced:
            self.answer_tokens += 1
        return ANSWER


def initial_state(prompt_ids: Sequence[int], tokens: ThinkTokens, tokenizer: Any = None) -> str:
    """Phase at the end of a prompt: THINKING inside an open block (thinking-only templates), ANSWER after
    a block closed at the very end (``enable_thinking=False``), else PRE (the model opens ``<think>``)."""
    ids = list(prompt_ids)
    last_start = max((i for i, t in enumerate(ids) if t == tokens.start_id), default=-1)
    last_end = max((i for i, t in enumerate(ids) if t == tokens.end_id), default=-1)
    if last_start > last_end:
        return THINKING
    if last_end >= 0 and tokenizer is not None:
        tail = ids[last_end + 1 :]
        if len(tail) <= 8 and tokenizer.decode(tail, skip_special_tokens=True).strip() == "":
            return ANSWER
    return PRE


def label_tokens(
    generated: Sequence[int], tokens: ThinkTokens, state: str, forced: Sequence[bool] | None = None
) -> tuple[list[str], RowPhase]:
    """Labels of ``generated`` starting from ``state``; returns them with the final RowPhase."""
    row = RowPhase(tokens, state)
    flags = forced if forced is not None else [False] * len(generated)
    if len(flags) != len(generated):
        raise ValueError(f"forced has {len(flags)} flags for {len(generated)} tokens")
    labels = [row.observe(int(t), bool(f)) for t, f in zip(generated, flags)]
    return labels, row
