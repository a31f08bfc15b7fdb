"""The per-row phase state machine: where a row of generated tokens stands (before the think block, inside
it, inside a tool call, or answering), how many tokens of each kind it has produced, and the label of each.

One definition shared by the budget processor (live, one token per step), the parser that turns a finished
generation into thinking/answer text and tool calls, the streamer, and the prefix replay of the sweep, so the
four always agree on what counts as a thinking token. Two rules live here and nowhere else:
- ``start_state``: where a row starts, read from the end of its prompt (inside an open ``<think>``, after a
  closed block, or neither);
- ``RowPhase.observe``: how each generated token moves the row on and how it is counted:
  ``<think>`` and ``</think>`` are labelled "thinking" but are delimiters, not counted; forced tokens (the stop
  text) are labelled by phase but never counted; ``<think>`` after the answer began reopens thinking (counted
  again); a ``<tool_call>`` ... ``</tool_call>`` span is labelled "tool_call" wherever it appears and the row
  returns to the phase it left; an end-of-turn token ends the row and is not counted.
Knows nothing about models, logits or decoded text beyond one whitespace check at the prompt's end.

    row = RowPhase(tokens, start_state(prompt_ids, tokens, tokenizer))
    labels = [row.observe(t) for t in generated_ids]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..trace.phases import ANSWER, THINKING, TOOL_CALL
from .template import ThinkTokens

PRE = "pre"  # thinking mode, the model has not opened <think> yet (hybrid templates)
LABELS = (THINKING, ANSWER, TOOL_CALL)  # what a generated token can be


def start_state(prompt_ids: Sequence[int], tokens: ThinkTokens | None, tokenizer: Any = None) -> str:
    """Phase at the end of a prompt: THINKING inside an open block (thinking-only templates), ANSWER after a
    block closed at the very end (``enable_thinking=False``) or when the tokenizer has no think tokens, else
    PRE (the model opens ``<think>`` itself)."""
    if tokens is None or not tokens.has_think:
        return ANSWER
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


@dataclass
class RowPhase:
    """Phase of one row; ``observe`` each generated token in order.

    ``labels`` holds every observed token's label; a multi-token ``<tool_call>`` tag relabels its first
    tokens once the tag is complete (``undecided`` says how many trailing labels may still change).
    """

    tokens: ThinkTokens
    state: str
    thinking_tokens: int = 0
    answer_tokens: int = 0
    tool_call_tokens: int = 0
    done: bool = False
    labels: list[str] = field(default_factory=list)
    _ids: list[int] = field(default_factory=list)  # every observed token
    _counted: list[bool] = field(default_factory=list)  # per token: whether it added to its phase's count
    _resume: str = ANSWER  # the state a tool call returns to

    def observe(self, token: int, forced: bool = False) -> str:
        """Advance by one generated token; return its label ("thinking", "answer" or "tool_call")."""
        self._ids.append(int(token))
        label, counted = self._step(int(token), forced)
        self.labels.append(label)
        self._counted.append(counted)
        if not self.done and label != TOOL_CALL and self._ends_with(self.tokens.tool_start):
            self._open_tool_call()
        return self.labels[-1]

    def _step(self, token: int, forced: bool) -> tuple[str, bool]:
        tt = self.tokens
        if self.done:  # padding after the end of turn
            return (THINKING if self.state == THINKING else ANSWER), False
        if token in tt.eos_ids:
            self.done = True
            return (self.state if self.state in LABELS else ANSWER), False
        if self.state == TOOL_CALL:
            self.tool_call_tokens += 1
            if self._ends_with(tt.tool_end):
                self.state = self._resume
            return TOOL_CALL, True
        if self.state == PRE:
            if token == tt.start_id:
                self.state = THINKING
                return THINKING, False
            self.state = ANSWER  # the model answered without thinking
        if self.state == THINKING:
            if token == tt.end_id:
                self.state = ANSWER
                return THINKING, False
            if not forced:
                self.thinking_tokens += 1
            return THINKING, not forced
        if token == tt.start_id:  # thinking reopened after the answer began
            self.state = THINKING
            return THINKING, False
        if not forced:
            self.answer_tokens += 1
        return ANSWER, not forced

    def _ends_with(self, tag: tuple[int, ...]) -> bool:
        return bool(tag) and tuple(self._ids[-len(tag) :]) == tag

    def _open_tool_call(self) -> None:
        """The last ``len(tool_start)`` tokens are a ``<tool_call>`` tag: relabel and recount them."""
        n = len(self.tokens.tool_start)
        self._resume = THINKING if self.state == THINKING else ANSWER
        for i in range(len(self.labels) - n, len(self.labels)):
            if self._counted[i]:
                if self.labels[i] == THINKING:
                    self.thinking_tokens -= 1
                else:
                    self.answer_tokens -= 1
            self.labels[i], self._counted[i] = TOOL_CALL, True
        self.tool_call_tokens += n
        self.state = TOOL_CALL

    @property
    def undecided(self) -> int:
        """Trailing tokens whose label may still change (a proper prefix of a ``<tool_call>`` tag)."""
        tag = self.tokens.tool_start
        if self.state == TOOL_CALL or len(tag) < 2:
            return 0
        ids = self._ids
        for n in range(min(len(tag) - 1, len(ids)), 0, -1):
            if tuple(ids[-n:]) == tag[:n]:
                return n
        return 0


def label_tokens(
    generated: Sequence[int], tokens: ThinkTokens, state: str, forced: Sequence[bool] | None = None
) -> tuple[list[str], RowPhase]:
    """Labels of ``generated`` starting from ``state``; returns them with the final RowPhase."""
    row = RowPhase(tokens, state)
    flags = forced if forced is not None else [False] * len(generated)
    if len(flags) != len(generated):
        raise ValueError(f"forced has {len(flags)} flags for {len(generated)} tokens")
    for t, f in zip(generated, flags):
        row.observe(int(t), bool(f))
    return list(row.labels), row
