"""The model forwards a capture block sees: the tokens of each forward, its attention mask and cache length, which
sequence each batch row continues, and (on exit) the token id, sequence and position of every recorded token.

Shared by ``capture`` (routing, ``capturing.py``) and ``capture_selection`` (indexed attention, ``selecting.py``):
the model pre-hook of each reads the call with :func:`read_forward`, decides which rows it keeps and their
positions, and logs them in a :class:`ForwardLog`; on exit ``ForwardLog.flat()`` gives the (N,) columns of the
trace. Rules: a 2-D ``attention_mask`` (B, S) marks padding (a 4-D or custom mask is ignored: every token
counts); the cache length comes from the cache (``get_seq_length``), else from the mask (S - t), else 0; a
forward over a non-empty cache with the previous forward's batch size continues that forward's sequences,
any other forward starts new ones. Knows nothing about routing, indexers or hooks.

    forward = read_forward(args, kwargs)          # in a model pre-hook (ForwardHooks calls it)
    log.add(forward, position, rows)              # position (B, t), rows (n,) kept or None
    token_ids, seq_index, position = log.flat()   # on exit

Dimension legend: B = batch rows, t = new tokens in this forward, S = cached + new columns, n = kept rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["Forward", "ForwardHooks", "ForwardLog", "read_forward"]


@dataclass(frozen=True)
class Forward:
    """One model call as its pre-hook saw it."""

    tokens: torch.Tensor | None  # (B, t) input ids; None when the call was given embeddings
    mask: torch.Tensor | None  # (B, S) the 2-D attention mask (S >= t); None when absent or not 2-D
    past: int  # tokens already in the cache before this call
    B: int
    t: int
    device: torch.device


def _cache_length(kwargs: dict) -> int:
    """The cache's length, or -1 when there is no cache or it cannot tell."""
    cache = kwargs.get("cache", kwargs.get("past_key_values"))
    if cache is not None and hasattr(cache, "get_seq_length"):
        try:
            return int(cache.get_seq_length())
        except Exception:  # some caches need arguments; the attention mask tells the same story
            return -1
    return -1


def read_forward(args: tuple, kwargs: dict) -> Forward | None:
    """What a model call carries (``input_ids`` or ``inputs_embeds``, positional or keyword); None for a call
    with neither (nothing to record)."""
    input_ids = kwargs.get("input_ids", args[0] if args and torch.is_tensor(args[0]) else None)
    source = input_ids if input_ids is not None else kwargs.get("inputs_embeds")
    if source is None:
        return None
    if source.dim() == (1 if input_ids is not None else 2):  # unbatched call
        source = source.unsqueeze(0)
    B, t = source.shape[:2]
    mask = kwargs.get("attention_mask", args[1] if len(args) > 1 and torch.is_tensor(args[1]) else None)
    if mask is not None and (mask.dim() != 2 or mask.shape[0] != B or mask.shape[1] < t):
        mask = None  # 4-D or custom masks: count every token
    past = _cache_length(kwargs)
    if past < 0:
        past = mask.shape[1] - t if mask is not None else 0
    tokens = input_ids.reshape(B, t) if input_ids is not None else None
    return Forward(tokens, mask, past, B, t, source.device)


class ForwardLog:
    """The forwards of one capture block: sequence numbering across them, and the kept tokens' columns."""

    def __init__(self) -> None:
        # per forward: (input ids (B, t) or None, seq ids (B,), positions (B, t), kept rows (n,) or None)
        self._entries: list[tuple[torch.Tensor | None, torch.Tensor, torch.Tensor, torch.Tensor | None]] = []
        self._prev: tuple[int, torch.Tensor] | None = None  # (B, seq ids (B,)) of the last forward
        self._next_seq = 0

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, forward: Forward, position: torch.Tensor, rows: torch.Tensor | None) -> None:
        """Log ``forward``: ``position`` (B, t) of each token in its sequence, ``rows`` (n,) the flat rows of
        (B*t) recorded (None: all)."""
        B = forward.B
        if forward.past > 0 and self._prev is not None and self._prev[0] == B:
            seq = self._prev[1]  # a forward over a non-empty cache continues the previous sequences
        else:
            seq = torch.arange(self._next_seq, self._next_seq + B, dtype=torch.int32)
            self._next_seq += B
        self._prev = (B, seq)
        self._entries.append((forward.tokens, seq, position.expand(B, forward.t), rows))

    def flat(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(N,) token ids (int64; 0 for a forward given embeddings), sequence indices (int32) and positions
        (int32) of every logged token that was kept, in the order the model processed them."""
        token_ids = [torch.zeros(0, dtype=torch.int64)]
        seqs, positions = [torch.zeros(0, dtype=torch.int32)], [torch.zeros(0, dtype=torch.int32)]
        for tokens, seq, position, rows in self._entries:
            B, t = position.shape
            flat_tokens = (
                tokens.reshape(-1).long().cpu() if tokens is not None else torch.zeros(B * t, dtype=torch.long)
            )
            flat_seq = seq.repeat_interleave(t)  # (B*t,)
            flat_pos = position.reshape(-1).int().cpu()
            if rows is not None:
                keep = rows.cpu()
                flat_tokens, flat_seq, flat_pos = flat_tokens[keep], flat_seq[keep], flat_pos[keep]
            token_ids.append(flat_tokens)
            seqs.append(flat_seq)
            positions.append(flat_pos)
        return torch.cat(token_ids), torch.cat(seqs), torch.cat(positions)


class ForwardHooks:
    """The model hooks of a capture: the pre-hook reads each forward (:func:`read_forward`) and hands it to
    ``_on_forward``, whose return value is ``_current`` while the forward runs; the post-hook clears it (a layer
    hook that finds ``_current`` None ran outside a forward of the model)."""

    _current: Any = None

    def _on_forward(self, forward: Forward) -> Any:
        """Log ``forward`` and return what the layer hooks need of it while it runs."""
        raise NotImplementedError

    def _on_model_forward(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        forward = read_forward(args, kwargs)
        self._current = None if forward is None else self._on_forward(forward)

    def _after_model_forward(self, module: nn.Module, args: tuple, output: object) -> None:
        self._current = None
