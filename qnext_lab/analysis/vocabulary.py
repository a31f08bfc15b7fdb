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


def favourite_experts(token_ids: torch.Tensor, ids: torch.Tensor, num_experts: int
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(N,) token ids and (N, k) expert ids -> per distinct token id (U,): id, occurrences, favourite
    expert (lowest index on ties), occurrences with the favourite in the top-k."""
    vocab, dense = torch.unique(token_ids, return_inverse=True)  # (U,), (N,) dense token index
    occurrences = torch.bincount(dense, minlength=vocab.numel())  # (U,)
    E, k = num_experts, ids.shape[1]
    key = (dense[:, None] * E + ids.long()).reshape(-1)  # (N*k,) one key per (token id, expert)
    if vocab.numel() * E <= 1 << 26:  # dense table: one bincount
        table = torch.bincount(key, minlength=vocab.numel() * E).view(-1, E)  # (U, E)
        best, favourite = table.max(dim=1)
        # max picks the first maximum on CPU; make it explicit for ties
        favourite = (table == best[:, None]).int().argmax(dim=1)
        return vocab, occurrences, favourite, best
    pairs, counts = torch.unique(key, return_counts=True)  # sparse table: sorted (token, expert) keys
    token = pairs // E
    best = torch.zeros(vocab.numel(), dtype=torch.int64).scatter_reduce(0, token, counts, "amax")
    is_best = counts == best[token]
    favourite = torch.full((vocab.numel(),), E, dtype=torch.int64)
    favourite = favourite.scatter_reduce(0, token[is_best], (pairs % E)[is_best], "amin")
    return vocab, occurrences, favourite, best


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
    for pos, layer in layer_positions(trace, layers):
        vocab, occ, fav, best = favourite_experts(trace.token_ids, trace.topk_ids[pos], E)
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
