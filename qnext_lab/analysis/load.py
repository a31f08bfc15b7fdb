"""Expert load per layer: how routed slots spread over experts, and how balanced that is.

``expert_load`` gives each expert's count and share of a layer's routed slots (N*k); ``load_balance`` sums
a layer up: MaxVio = (max load - mean load) / mean load (0 when perfectly balanced), the load entropy H
(nats) and the effective number of experts exp(H) (E when balanced, 1 when one expert takes everything),
plus the number of experts that received nothing. Knows nothing about models or figures.

    load_balance(trace)            # one row per layer
    expert_load(trace, layers=[3]) # one row per (layer, expert)

Dimension legend: L = layers, N = tokens, k = top-k, E = experts.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import torch

from ..trace.routing_trace import RoutingTrace
from ._common import check_trace, expert_counts, layer_positions


def expert_load(trace: RoutingTrace, layers: int | Iterable[int] | None = None) -> pd.DataFrame:
    """One row per (layer, expert): ``count`` of routed slots, ``share`` of the layer's N*k slots."""
    trace = check_trace(trace)
    E, frames = trace.num_experts, []
    for pos, layer in layer_positions(trace, layers):
        counts = expert_counts(trace.topk_ids[pos], E)  # (E,)
        total = max(int(counts.sum()), 1)
        frames.append(pd.DataFrame({"layer": layer, "expert": range(E), "count": counts.numpy(),
                                    "share": (counts.double() / total).numpy()}))
    return pd.concat(frames, ignore_index=True)


def load_balance(trace: RoutingTrace, layers: int | Iterable[int] | None = None) -> pd.DataFrame:
    """One row per layer: tokens, max_vio, entropy (nats), effective_experts = exp(entropy), dead_experts,
    max_share; plus ``uniform_entropy`` = ln E for reference."""
    trace = check_trace(trace)
    E, rows = trace.num_experts, []
    for pos, layer in layer_positions(trace, layers):
        counts = expert_counts(trace.topk_ids[pos], E).double()  # (E,)
        total = counts.sum()
        if total == 0:
            rows.append(dict(layer=layer, tokens=0, max_vio=float("nan"), entropy=float("nan"),
                             effective_experts=float("nan"), dead_experts=E, max_share=float("nan")))
            continue
        share = counts / total  # (E,)
        mean = total / E
        entropy = -(share * torch.log(share.clamp_min(1e-300))).sum()  # 0 log 0 = 0
        rows.append(dict(layer=layer, tokens=trace.num_tokens, max_vio=float((counts.max() - mean) / mean),
                         entropy=float(entropy), effective_experts=float(entropy.exp()),
                         dead_experts=int((counts == 0).sum()), max_share=float(share.max())))
    frame = pd.DataFrame(rows)
    frame["uniform_entropy"] = float(torch.log(torch.tensor(float(E))))
    return frame
