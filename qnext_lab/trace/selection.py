"""SelectionTrace: the second routing of a sparse-attention model, which past tokens each query attended to.

An indexed-attention layer (DeepSeek DSA in DeepSeek-V3.2 / GLM-5, Qwen QSA in Qwen3.8-Flash-Next) scores the
tokens before each query with a small "indexer" and lets the query attend only to the chosen ones. This record
holds those choices, one row per query token, as ``capture_selection`` (``trace/selecting.py``) recorded them.
Knows nothing about hooks, models or figures.

Dimension legend: L = indexed-attention layers captured, N = query tokens (padding excluded), K = the most
tokens any query selected in this trace (rows with fewer end in -1).

| field | type | meaning |
| --- | --- | --- |
| ``selected`` | int32 (L, N, K) | positions (in the query's own sequence, 0-based, padding not counted) of the
  tokens the query attended to, ascending, then -1 |
| ``token_ids`` | int64 (N,) | input token of each query |
| ``seq_index`` | int32 (N,) | which sequence the query belongs to |
| ``position`` | int32 (N,) | the query's own position in its sequence |
| ``layer_indices`` | list[int] (L) | decoder-layer index of each captured layer |
| ``tokens`` | list[str] or None | token text (untrusted: escape before HTML) |
| ``model_name`` | str | |

    with ql.capture_selection(model) as sel:
        model(**batch)
    sel.matrix(layer=sel.layer_indices[0], seq=0)   # (n, n) bool: query x key
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..checks import as_int

__all__ = ["SelectionTrace"]


def _tensor(value: object, dtype: torch.dtype, dims: int, name: str) -> torch.Tensor:
    if not torch.is_tensor(value):
        raise TypeError(f"SelectionTrace.{name} must be a torch tensor, got {type(value).__name__}")
    if value.dim() != dims:
        raise ValueError(f"SelectionTrace.{name} must have {dims} dimensions, got shape {tuple(value.shape)}")
    if value.is_floating_point() or value.dtype == torch.bool:
        raise TypeError(f"SelectionTrace.{name} must hold integers, got {value.dtype}")
    return value.to(dtype) if dtype != torch.int64 else value.long()


@dataclass
class SelectionTrace:
    """Which earlier tokens each query attended to, per indexed-attention layer (see the module docstring)."""

    selected: torch.Tensor
    token_ids: torch.Tensor
    seq_index: torch.Tensor
    position: torch.Tensor
    layer_indices: list[int]
    model_name: str = ""
    tokens: list[str] | None = None

    def __post_init__(self) -> None:
        sel = self.selected
        if not torch.is_tensor(sel) or sel.dim() != 3:
            raise ValueError(
                "SelectionTrace.selected must be a (layers, tokens, K) integer tensor, got "
                f"{tuple(sel.shape) if torch.is_tensor(sel) else type(sel).__name__}"
            )
        L, N, _ = sel.shape
        for name in ("token_ids", "seq_index", "position"):
            t = _tensor(getattr(self, name), torch.int64, 1, name)
            if t.shape[0] != N:
                raise ValueError(f"SelectionTrace.{name} has {t.shape[0]} entries for {N} query tokens")
            if N and int(t.min()) < 0:
                raise ValueError(f"SelectionTrace.{name} must be >= 0")
            setattr(self, name, t)
        sel = _tensor(sel, torch.int64, 3, "selected")
        if sel.numel():
            if int(sel.min()) < -1:
                raise ValueError("SelectionTrace.selected holds positions >= 0 or -1 (empty slot)")
            if bool((sel > self.position.view(1, N, 1)).any()):
                raise ValueError("SelectionTrace.selected names a position after its query (attention is causal)")
        if sel.numel() and int(sel.max()) >= 2**31:
            raise ValueError("SelectionTrace.selected positions must fit int32")
        self.selected = sel.to(torch.int32)
        self.seq_index, self.position = self.seq_index.to(torch.int32), self.position.to(torch.int32)
        if not isinstance(self.layer_indices, (list, tuple)):
            raise TypeError(f"SelectionTrace.layer_indices must be a list of ints, got {type(self.layer_indices)}")
        self.layer_indices = [as_int(i, "SelectionTrace.layer_indices", low=0) for i in self.layer_indices]
        if len(self.layer_indices) != L or len(set(self.layer_indices)) != L:
            raise ValueError(f"SelectionTrace.layer_indices must be {L} distinct layer indices")
        if self.tokens is not None and (
            not isinstance(self.tokens, list)
            or len(self.tokens) != N
            or not all(isinstance(t, str) for t in self.tokens)
        ):
            raise ValueError(f"SelectionTrace.tokens must be None or a list of {N} strings")
        if not isinstance(self.model_name, str):
            raise TypeError("SelectionTrace.model_name must be a string")

    # ------------------------------------------------------------------ views
    @property
    def num_tokens(self) -> int:
        return int(self.selected.shape[1])

    def _layer_pos(self, layer: int) -> int:
        layer = as_int(layer, "layer", hint=f"; captured layers: {self.layer_indices}")
        if layer not in self.layer_indices:
            raise ValueError(f"layer {layer} was not captured; captured indexed-attention layers: {self.layer_indices}")
        return self.layer_indices.index(layer)

    def rows(self, seq: int = 0) -> torch.Tensor:
        """(n,) rows of the queries of sequence ``seq``, in position order."""
        seq = as_int(seq, "seq", low=0)
        rows = (self.seq_index == seq).nonzero().flatten()
        if rows.numel() == 0:
            known = sorted(set(self.seq_index.tolist()))
            raise ValueError(f"sequence {seq} has no queries in this trace; sequences: {known}")
        return rows[self.position[rows].argsort(stable=True)]

    def matrix(self, layer: int, seq: int = 0) -> torch.Tensor:
        """(n, P) bool: row i = the i-th query of sequence ``seq`` (by position), column p = whether it selected
        the token at position p; P = one past the last query position."""
        pos = self._layer_pos(layer)
        rows = self.rows(seq)
        width = int(self.position[rows].max()) + 1
        sel = self.selected[pos, rows].long()  # (n, K)
        out = torch.zeros(rows.numel(), width + 1, dtype=torch.bool)
        out.scatter_(1, torch.where(sel >= 0, sel, width), True)  # -1 slots land in the dropped last column
        return out[:, :width]

    def counts(self, layer: int) -> torch.Tensor:
        """(N,) int: how many tokens each query selected in ``layer``."""
        return (self.selected[self._layer_pos(layer)] >= 0).sum(-1)

    def with_tokens(self, tokens: list[str]) -> SelectionTrace:
        """A copy carrying the text of each query token (e.g. ``[tok.decode([i]) for i in sel.token_ids]``)."""
        return SelectionTrace(
            self.selected, self.token_ids, self.seq_index, self.position, self.layer_indices, self.model_name, tokens
        )
