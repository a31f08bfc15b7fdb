"""Logits processors that steer a random model, so tests can put rows into known phases."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import LogitsProcessor


class Script(LogitsProcessor):
    """Force ``ids`` as the first generated tokens of every row (then let the model choose)."""

    def __init__(self, ids: Sequence[int]) -> None:
        self.ids, self.start = list(ids), None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.start is None:
            self.start = input_ids.shape[1]
        step = input_ids.shape[1] - self.start
        if step < len(self.ids):
            scores[:] = float("-inf")
            scores[:, self.ids[step]] = 0.0
        return scores


class Ban(LogitsProcessor):
    """Never let the model choose ``ids`` itself (forced tokens from later processors still win)."""

    def __init__(self, ids: Sequence[int]) -> None:
        self.ids = list(ids)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        scores[:, self.ids] = float("-inf")
        return scores


class Prefer(LogitsProcessor):
    """Make ``token`` the model's top choice at every step."""

    def __init__(self, token: int) -> None:
        self.token = token

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        scores[:, self.token] = scores.max(dim=-1).values + 5.0
        return scores
