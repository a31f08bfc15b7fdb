"""ThinkingBudgetProcessor: a transformers LogitsProcessor that caps (and optionally extends) the think
block of every row of a batch.

Per row it keeps the phase (``phases.RowPhase``), the number of thinking tokens so far and a queue of
forced tokens (the shape of nanochat's engine.py). When a row's count reaches its budget it force-feeds the
stop text and ``</think>`` one token per step; after that the model answers freely. ``budget=0`` closes the
block at once, ``None`` leaves it unlimited. With ``min_thinking`` (s1 "budget forcing"), ``</think>`` and
end-of-turn are suppressed until the row has thought that many tokens; when the model's top choice is to
stop, "Wait" is forced instead. Forced stop-text tokens never count as thinking tokens; forced "Wait"
tokens do (they are thinking the model continues), and a budget always wins over ``min_thinking``, so no
row ever exceeds its budget.

With tools the stop text is never forced inside a ``<tool_call>`` span or after ``</think>``; thinking
reopened later in the turn is counted on top of what the row already thought (``phases.RowPhase``).
``closes_thinking`` is the one rule for when the budget closes a row's thinking, shared with the prefix
replay. Works with greedy and sampling (forced tokens get the only finite logit; custom processors run
before the temperature/top-k/top-p warpers); beam search reorders rows, so it is refused with a clear error.
Knows nothing about chat templates beyond the marker ids.

    proc = ThinkingBudgetProcessor(tok, budget=32, model=model)
    logits_processor = LogitsProcessorList([proc])  # for transformers' generate, alone or via the engine
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import LogitsProcessor

from ..checks import as_int
from .phases import THINKING, RowPhase, start_state
from .template import resolve_stop_text, stop_token_ids, think_tokens

Budget = int | None


def check_budget(budget: Any, name: str = "budget") -> Budget:
    """``budget`` as an int >= 0 or None; any integral number (numpy, torch) is accepted
    (``operator.index``); bools, floats and other types raise TypeError, negatives ValueError."""
    if budget is None:
        return None
    return as_int(budget, name, low=0, hint=" (a non-negative int, 0 closes thinking at once, or None: unlimited)")


def closes_thinking(row: RowPhase, budget: Budget) -> bool:
    """The rule for when the budget closes a row's thinking: before the next token, the row is inside the
    think block (not in a tool call, not answering) and has thought ``budget`` tokens."""
    return budget is not None and not row.done and row.state == THINKING and row.thinking_tokens >= budget


@dataclass
class _Row:
    phase: RowPhase
    budget: Budget
    queue: deque = field(default_factory=deque)
    stopping: bool = False  # the stop text has been queued (at least once)
    queue_counts: bool = False  # queued tokens count as thinking ("Wait") or not (stop text)
    pending_forced: bool = False  # the token chosen at the last step was forced stop text
    forced: list = field(default_factory=list)  # per generated token


class ThinkingBudgetProcessor(LogitsProcessor):
    """Caps thinking at ``budget`` tokens per row (an int, None, or one value per row of the batch).

    Args:
        tokenizer: supplies the ``<think>``/``</think>`` ids and tokenizes the stop and wait texts.
        budget: thinking tokens allowed per row; 0 closes at once; None is unlimited.
        stop_text: forced when the budget runs out (``</think>`` is appended unless it is in the text);
            default ``model.generation_config.thinking_stop_text``, else Qwen's documented text.
        model: only read for its generation_config (stop text, eos ids).
        min_thinking: s1-style minimum; ``</think>``/eos are suppressed before it and "Wait" is forced.
        wait_text: the text forced to keep a row thinking.

    Consecutive ``generate`` calls may share an instance: an input that does not continue the previous one
    (same rows plus one token) starts afresh; ``reset()`` forces it.
    """

    def __init__(
        self,
        tokenizer: Any,
        budget: Budget | Sequence[Budget] = None,
        *,
        stop_text: str | None = None,
        model: Any = None,
        min_thinking: int | None = None,
        wait_text: str = "Wait",
    ) -> None:
        self.tokenizer = tokenizer
        self.tokens = think_tokens(tokenizer, model)
        if isinstance(budget, Sequence) and not isinstance(budget, (str, bytes)):
            self.budgets: list[Budget] | None = [check_budget(b) for b in budget]
            self.budget: Budget = None
        else:
            self.budgets, self.budget = None, check_budget(budget)
        self.min_thinking = check_budget(min_thinking, "min_thinking")
        caps = self.budgets if self.budgets is not None else [self.budget]
        if self.min_thinking is not None and any(b is not None and b < self.min_thinking for b in caps):
            raise ValueError(f"min_thinking ({self.min_thinking}) must not exceed the budget ({budget})")
        self.stop_text = resolve_stop_text(stop_text, model)
        self.stop_ids = stop_token_ids(tokenizer, self.stop_text, self.tokens)
        if not isinstance(wait_text, str) or not wait_text:
            raise ValueError(f"wait_text must be a non-empty str, got {wait_text!r}")
        self.wait_ids = list(tokenizer.encode(wait_text, add_special_tokens=False))
        self._stop_choices = torch.tensor([self.tokens.end_id, *self.tokens.eos_ids])
        self._rows: list[_Row] | None = None
        self._last_len = -1
        self._last_column: torch.Tensor | None = None
        self._last_input: torch.Tensor | None = None

    # -- state ------------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget all rows; the next call starts from its input as a new prompt."""
        self._rows, self._last_len, self._last_column, self._last_input = None, -1, None, None

    def _start(self, input_ids: torch.Tensor) -> None:
        batch = input_ids.shape[0]
        budgets = self.budgets if self.budgets is not None else [self.budget] * batch
        if len(budgets) != batch:
            raise ValueError(f"{len(budgets)} budgets were given for a batch of {batch} rows")
        self._rows = []
        for ids, b in zip(input_ids.tolist(), budgets):
            state = start_state(ids, self.tokens, self.tokenizer)
            self._rows.append(_Row(RowPhase(self.tokens, state), b))

    def _continues(self, input_ids: torch.Tensor) -> bool:
        """Whether ``input_ids`` is the previous call's input plus one token (else it is a new prompt).

        Raises when the rows continue the previous ones in another order: beam search reorders rows, and a
        per-row budget cannot follow them (the budget would silently be exceeded)."""
        if self._rows is None or len(self._rows) != input_ids.shape[0] or input_ids.shape[1] != self._last_len + 1:
            return False
        if torch.equal(input_ids[:, -2], self._last_column):
            return True
        previous = {tuple(r) for r in self._last_input.tolist()}  # (B, L-1) rows of the last call
        if all(tuple(r) in previous for r in input_ids[:, :-1].tolist()):
            raise ValueError(
                "ThinkingBudgetProcessor cannot follow beam search (num_beams > 1 reorders the rows, so a "
                "budget would be silently exceeded); use greedy decoding or sampling (num_beams=1)"
            )
        return False

    def _observe_last(self, input_ids: torch.Tensor) -> None:
        assert self._rows is not None
        for row, token in zip(self._rows, input_ids[:, -1].tolist()):
            if not row.phase.done:
                row.phase.observe(token, row.pending_forced)
            row.forced.append(row.pending_forced)
            row.pending_forced = False

    # -- per step ---------------------------------------------------------------------------------------
    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        # B = rows, L = tokens so far, V = vocabulary
        batch, length = input_ids.shape  # (B, L)
        if self._continues(input_ids):
            self._observe_last(input_ids)
        else:
            self._start(input_ids)
        self._last_len, self._last_column = length, input_ids[:, -1].clone()  # (B,)
        self._last_input = input_ids.detach().clone()  # (B, L) to recognise reordered rows
        forced_rows, forced_ids = [], []
        for r, row in enumerate(self._rows):
            token = self._decide(row, scores[r])
            if token is not None:
                forced_rows.append(r)
                forced_ids.append(token)
        if forced_rows:
            rows = torch.tensor(forced_rows, device=scores.device)
            cols = torch.tensor(forced_ids, device=scores.device)
            scores[rows] = float("-inf")  # (F, V)
            scores[rows, cols] = 0.0
        return scores

    def _decide(self, row: _Row, scores: torch.Tensor) -> int | None:
        """The token to force for this row now (None: let the model choose); may suppress in ``scores``."""
        phase = row.phase
        if phase.done:
            return None
        closing = bool(row.queue) and not row.queue_counts  # the stop text is being forced
        if phase.state == THINKING and not closing:
            if closes_thinking(phase, row.budget):
                row.queue = deque(self.stop_ids)  # the budget wins over a pending "Wait"
                row.stopping, row.queue_counts = True, False
            elif self.min_thinking is not None and phase.thinking_tokens < self.min_thinking and not row.queue:
                choices = self._stop_choices.to(scores.device)
                if int(scores.argmax()) in choices.tolist():
                    row.queue, row.queue_counts = deque(self.wait_ids), True
                else:
                    scores[choices] = float("-inf")  # (S,) no stopping before the minimum
        if row.queue:
            row.pending_forced = not row.queue_counts
            return row.queue.popleft()
        return None

    # -- results ----------------------------------------------------------------------------------------
    @property
    def thinking_tokens(self) -> list[int]:
        """Thinking tokens per row so far (forced stop text excluded). ``generate`` never shows a processor
        the token it chose last, so after a call this misses that token; ``Generation`` counts are exact."""
        return [row.phase.thinking_tokens for row in self._rows or []]

    @property
    def budget_hit(self) -> list[bool]:
        """Per row: whether the budget forced the stop text."""
        return [row.stopping for row in self._rows or []]

    def last_forced(self, row: int) -> bool:
        """Whether the token most recently chosen for ``row`` was forced stop text (for streamers)."""
        return bool(self._rows) and self._rows[row].pending_forced

    def forced_mask(self, row: int, num_generated: int) -> list[bool]:
        """Which of the first ``num_generated`` generated tokens of ``row`` were forced stop text
        (forced "Wait" tokens are thinking the row continues, so they are not flagged).

        The last token is not yet observed by the processor (generation stops after choosing it), so its
        flag comes from ``pending_forced``.
        """
        if self._rows is None:
            return [False] * num_generated
        r = self._rows[row]
        flags = r.forced + [r.pending_forced]
        return (flags + [False] * num_generated)[:num_generated]
