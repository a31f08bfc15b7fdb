"""Shared checks and small vectorised helpers for the routing metrics (private to ``analysis``).

Knows RoutingTrace's fields; knows nothing about models or figures.
Dimension legend: L = layers, N = tokens, k = top-k, E = experts.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from ..trace.routing_trace import RoutingTrace


def check_trace(trace: object, name: str = "trace") -> RoutingTrace:
    if not isinstance(trace, RoutingTrace):
        raise TypeError(f"{name} must be a qnext_lab.RoutingTrace (from capture() or RoutingTrace.load), "
                        f"got {type(trace).__name__}")
    return trace


def layer_positions(trace: RoutingTrace, layers: int | Iterable[int] | None) -> list[tuple[int, int]]:
    """[(position in the trace, decoder-layer index)] for the requested decoder layers (default: all)."""
    if layers is None:
        return list(enumerate(trace.layer_indices))
    wanted = [layers] if isinstance(layers, int) else [int(i) for i in layers]
    unknown = [i for i in wanted if i not in trace.layer_indices]
    if unknown:
        raise ValueError(f"layer(s) {unknown} not in this trace; captured layers are {trace.layer_indices}")
    return [(trace.layer_indices.index(i), i) for i in wanted]


def expert_counts(ids: torch.Tensor, num_experts: int) -> torch.Tensor:
    """(N, k) expert ids -> (E,) int64 number of routed slots per expert."""
    flat = ids.reshape(-1)
    # index_add_ takes the int32 ids as they are (bincount would need an int64 copy) and runs in parallel
    return torch.zeros(num_experts, dtype=torch.int64).index_add_(0, flat, torch.ones(1, dtype=torch.int64).expand(flat.numel()))


def token_order(trace: RoutingTrace) -> torch.Tensor:
    """(N,) int64 permutation sorting tokens by (sequence, position): reading order inside each sequence."""
    key = trace.seq_index.long() * (int(trace.position.max()) + 1 if len(trace) else 1) + trace.position.long()
    return torch.argsort(key, stable=True)


def overlap_counts(a: torch.Tensor, b: torch.Tensor, chunk: int = 1 << 17) -> torch.Tensor:
    """(M, k) and (M, k') expert-id rows -> (M,) int64 |set(a_m) & set(b_m)| (ids distinct within a row)."""
    out = torch.empty(a.shape[0], dtype=torch.int64)
    for start in range(0, a.shape[0], chunk):  # chunks bound the (m, k, k') temporary
        x, y = a[start : start + chunk], b[start : start + chunk]
        out[start : start + chunk] = (x[:, :, None] == y[:, None, :]).any(-1).sum(-1)
    return out
