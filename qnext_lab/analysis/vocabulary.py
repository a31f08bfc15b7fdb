"""Vocabulary specialisation: does each token id keep going to the same expert? (OLMoE.)

For a token id v seen n_v times in a layer, and each expert e, p(v, e) = (occurrences of v with e in its
top-k) / n_v. The token's favourite expert is the one with the largest p; uniform routing would give
p = k/E, so ``specialization`` = (p - k/E) / (1 - k/E): 0 at the uniform baseline, 1 when the favourite
expert is chosen every time. Knows nothing about models or figures.

    vocabulary_specialization(trace, min_count=5)   # one row per (layer, token id)

Dimension legend: N = tokens, k = top-k, E = experts, U = distinct token ids.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import torch

from ..trace.routing_trace import RoutingTrace
from ._common import check_trace, layer_positions


DENSE_BINS = 1 << 24  # (token, expert) counters kept in one dense table; rarer tokens are counted sparsely


class _TokenIndex:
    """Per-trace token bookkeeping shared by every layer: distinct ids, occurrences, dense/rare split."""

    def __init__(self, token_ids: torch.Tensor, num_experts: int) -> None:
        self.vocab, self.dense_id = torch.unique(token_ids, return_inverse=True)  # (U,), (N,)
        U = self.vocab.numel()
        self.occurrences = torch.bincount(self.dense_id, minlength=U)  # (U,)
        n_dense = min(U, max(1, DENSE_BINS // num_experts))
        self.frequent = torch.argsort(self.occurrences, descending=True, stable=True)[:n_dense]  # (U_f,)
        slot = torch.full((U,), -1, dtype=torch.int64)
        slot[self.frequent] = torch.arange(self.frequent.numel())
        row_slot = slot[self.dense_id]  # (N,) -1 for rows of rare tokens
        dense = row_slot >= 0
        self.dense_rows = None if bool(dense.all()) else dense.nonzero().flatten()  # None: every row
        slots = row_slot if self.dense_rows is None else row_slot[self.dense_rows]
        self.dense_base = (slots * num_experts).to(torch.int32)  # (n_f,) first counter of each row's token
        self.rare_rows = (row_slot < 0).nonzero().flatten()
        self.rare = torch.ones(U, dtype=torch.bool)
        self.rare[self.frequent] = False


def favourite_experts(token_ids: torch.Tensor | _TokenIndex, ids: torch.Tensor, num_experts: int
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(N,) token ids and (N, k) expert ids -> per distinct token id (U,): id, occurrences, favourite
    expert (lowest index on ties), occurrences with the favourite in the top-k.

    The most frequent tokens (as many as fit ``DENSE_BINS`` counters) are counted with one dense bincount;
    the long tail of rare tokens, whose keys are few, by sorting their (token, expert) keys.
    """
    E = num_experts
    index = token_ids if isinstance(token_ids, _TokenIndex) else _TokenIndex(token_ids, E)
    U = index.vocab.numel()
    best = torch.zeros(U, dtype=torch.int64)
    favourite = torch.zeros(U, dtype=torch.int64)
    dense_ids = ids if index.dense_rows is None else ids[index.dense_rows]  # (n_f, k)
    key = (index.dense_base[:, None] + dense_ids).reshape(-1)  # (n_f * k,) int32 counter index
    ones = torch.ones(1, dtype=torch.int64).expand(key.numel())
    table = torch.zeros(index.frequent.numel() * E, dtype=torch.int64).index_add_(0, key, ones).view(-1, E)
    top, arg = table.max(dim=1)  # documented: the first maximal index on ties
    best[index.frequent], favourite[index.frequent] = top, arg
    if index.rare_rows.numel():
        key = (index.dense_id[index.rare_rows, None] * E + ids[index.rare_rows].long()).reshape(-1)
        pairs, counts = torch.unique(key, return_counts=True)  # sorted (token, expert) keys
        token = pairs // E
        best.scatter_reduce_(0, token, counts, "amax")
        is_best = counts == best[token]
        rare_fav = torch.full((U,), E, dtype=torch.int64).scatter_reduce(0, token[is_best], (pairs % E)[is_best], "amin")
        favourite[index.rare] = rare_fav[index.rare]
    return index.vocab, index.occurrences, favourite, best


def vocabulary_specialization(trace: RoutingTrace, layers: int | Iterable[int] | None = None,
                              min_count: int = 1) -> pd.DataFrame:
    """One row per (layer, token id seen at least ``min_count`` times): token_id, count, top_expert,
    p, baseline (k/E), specialization; plus ``text`` when the trace has decoded tokens."""
    trace = check_trace(trace)
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    E, k = trace.num_experts, trace.top_k
    baseline = k / E
    text = None
    if trace.tokens is not None:
        first = {}
        for tid, s in zip(trace.token_ids.tolist(), trace.tokens):
            first.setdefault(tid, s)
        text = first
    frames = []
    index = _TokenIndex(trace.token_ids, E)  # shared by all layers
    for pos, layer in layer_positions(trace, layers):
        vocab, occ, fav, best = favourite_experts(index, trace.topk_ids[pos], E)
        keep = occ >= min_count
        p = best[keep].double() / occ[keep].double()
        frame = pd.DataFrame({"layer": layer, "token_id": vocab[keep].numpy(), "count": occ[keep].numpy(),
                              "top_expert": fav[keep].numpy(), "p": p.numpy(), "baseline": baseline,
                              "specialization": ((p - baseline) / (1 - baseline)).numpy() if baseline < 1
                              else float("nan")})
        if text is not None:
            frame["text"] = [text[t] for t in frame["token_id"].tolist()]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
