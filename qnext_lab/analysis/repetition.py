"""Consecutive-token repetition: does token t+1 go to the same expert(s) as token t? (Mixtral, Table 5.)

Per layer: ``top1`` = share of consecutive pairs whose first-choice experts are equal; ``any_topk`` = share
whose top-k sets share at least one expert. Baselines for independent uniform routing: 1/E and
1 - C(E-k, k) / C(E, k) (Mixtral: 12.5% and 46% for E=8, k=2). Pairs are consecutive positions of the same
sequence, never across sequence boundaries. Knows nothing about models or figures.

    consecutive_repetition(trace)   # one row per layer

Dimension legend: N = tokens, M = consecutive pairs, k = top-k, E = experts.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import torch

from ..trace.routing_trace import RoutingTrace
from ._common import check_trace, layer_positions, shares_any, token_order


def random_overlap_probability(num_experts: int, top_k: int) -> float:
    """P(two independent uniform k-subsets of E experts share at least one expert) = 1 - C(E-k,k)/C(E,k)."""
    none = 1.0
    for i in range(top_k):  # C(E-k, k) / C(E, k) = prod_i (E-k-i) / (E-i)
        none *= max(num_experts - top_k - i, 0) / (num_experts - i)
    return 1.0 - none


def _reading_order(trace: RoutingTrace) -> tuple[torch.Tensor, torch.Tensor]:
    """(N,) int64 reading-order permutation and (N-1,) bool: row t+1 of the reading order is the next
    position of row t's sequence."""
    order = token_order(trace)  # (N,) reading order
    seq, pos = trace.seq_index[order], trace.position[order]
    return order, (seq[1:] == seq[:-1]) & (pos[1:] == pos[:-1] + 1)


def consecutive_repetition(trace: RoutingTrace, layers: int | Iterable[int] | None = None) -> pd.DataFrame:
    """One row per layer: pairs, top1, any_topk, random_top1, random_any_topk, top1_vs_random."""
    trace = check_trace(trace)
    order, follows = _reading_order(trace)  # pairs: (row t, row t+1) of the reading order where follows[t]
    in_order = torch.equal(order, torch.arange(order.numel()))  # rows already in reading order: no copy
    m = int(follows.sum())
    E, k = trace.num_experts, trace.top_k
    random_top1, random_any = 1.0 / E, random_overlap_probability(E, k)
    rows = []
    for pos, layer in layer_positions(trace, layers):
        ids = trace.topk_ids[pos]  # (N, k)
        if not in_order:
            ids = ids.index_select(0, order)  # (N, k) in reading order
        # every (t, t+1) neighbour pair is compared (cheap), then the pairs that cross sequences are dropped
        top1 = int(((ids[:-1, 0] == ids[1:, 0]) & follows).sum()) / m if m else float("nan")
        any_k = int((shares_any(ids[:-1], ids[1:], E) & follows).sum()) / m if m else float("nan")
        rows.append(
            dict(
                layer=layer,
                pairs=m,
                top1=top1,
                any_topk=any_k,
                random_top1=random_top1,
                random_any_topk=random_any,
                top1_vs_random=top1 / random_top1,
            )
        )
    return pd.DataFrame(rows)
