"""Router saturation: how much two checkpoints agree on routing for the same inputs (OLMoE).

For each layer, saturation = mean over tokens of |topk_a(t) & topk_b(t)| / k; a checkpoint against itself
gives 1, independent uniform routers about k/E. Compare an intermediate checkpoint with the final one to
see when routing settles. Also reports top-1 agreement. Knows nothing about models or figures.

    router_saturation(trace_step_500, trace_final)   # one row per layer

Dimension legend: N = tokens, k = top-k.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from ..trace.routing_trace import RoutingTrace
from ._common import check_same_tokens, check_trace, layer_positions, shared_total


def router_saturation(
    trace_a: RoutingTrace, trace_b: RoutingTrace, layers: int | Iterable[int] | None = None
) -> pd.DataFrame:
    """One row per layer: tokens, saturation, top1_agreement, random (k/E)."""
    a, b = check_trace(trace_a, "trace_a"), check_trace(trace_b, "trace_b")
    check_same_tokens(a, b, "router saturation")
    k = a.top_k
    rows = []
    for pos_a, layer in layer_positions(a, layers):
        if layer not in b.layer_indices:
            raise ValueError(f"layer {layer} is in trace_a but not in trace_b")
        ids_a, ids_b = a.topk_ids[pos_a], b.topk_ids[b.layer_indices.index(layer)]  # (N, k)
        n = ids_a.shape[0]
        rows.append(
            dict(
                layer=layer,
                tokens=n,
                saturation=shared_total(ids_a, ids_b, a.num_experts) / n / k if n and k else float("nan"),
                top1_agreement=float((ids_a[:, 0] == ids_b[:, 0]).double().mean()) if n and k else float("nan"),
                random=k / a.num_experts,
            )
        )
    return pd.DataFrame(rows)
