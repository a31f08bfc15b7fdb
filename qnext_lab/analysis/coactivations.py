"""Co-activation: which experts are chosen together for the same token (OLMoE, over all top-k pairs).

C[i, j] = N(i and j both in a token's top-k) / N(i in a token's top-k), counted over every pair of the
top-k (not only adjacent slots, a quirk of the OLMoE analysis scripts). The diagonal is NaN (an expert is
never chosen twice for a token). Knows nothing about models or figures.

    coactivation(trace, layer=3)                    # E x E DataFrame, rows i, columns j
    coactivation(trace, layer=3, normalize=False)   # pair counts N(i, j), diagonal N(i)

Dimension legend: N = tokens, k = top-k, E = experts.
"""

from __future__ import annotations

import pandas as pd
import torch

from ..checks import as_int
from ..trace.routing_trace import RoutingTrace
from ._common import check_trace, layer_positions
from .load import routed_counts


def pair_counts(ids: torch.Tensor, num_experts: int) -> torch.Tensor:
    """(N, k) expert ids -> (E, E) int64: [i, j] = tokens with both i and j in the top-k (i != j); [i, i] = N(i)."""
    ids = ids.long()
    E, k = num_experts, ids.shape[1]
    counts = torch.zeros(E * E, dtype=torch.int64)
    for a in range(k):  # a loop over slots (k <= ~10), not tokens
        key = ids[:, a : a + 1] * E + ids  # (N, k): row expert = slot a, column expert = every slot
        counts += torch.bincount(key.reshape(-1), minlength=E * E)
    return counts.view(E, E)  # slot a with itself gives the diagonal N(i)


def coactivation(trace: RoutingTrace, layer: int, normalize: bool = True) -> pd.DataFrame:
    """E x E co-activation of decoder layer ``layer`` (index = expert i, columns = expert j)."""
    trace = check_trace(trace)
    ((pos, layer),) = layer_positions(trace, as_int(layer, "layer"))
    E = trace.num_experts
    counts = pair_counts(trace.topk_ids[pos], E)  # (E, E)
    if not normalize:
        frame = pd.DataFrame(counts.numpy())
    else:
        n_i = routed_counts(trace.topk_ids[pos : pos + 1], E)[0].double()  # (E,)
        ratio = counts.double() / n_i[:, None]  # rows of unused experts become NaN (0/0)
        ratio.fill_diagonal_(float("nan"))
        frame = pd.DataFrame(ratio.numpy())
    frame.index.name, frame.columns.name = "expert", "with_expert"
    return frame


def most_used_experts(trace: RoutingTrace, layer: int, n: int = 32) -> list[int]:
    """The ``n`` experts of decoder layer ``layer`` with the most routed slots, most used first."""
    trace = check_trace(trace)
    ((pos, _),) = layer_positions(trace, as_int(layer, "layer"))
    counts = routed_counts(trace.topk_ids[pos : pos + 1], trace.num_experts)[0]  # (E,)
    order = torch.argsort(counts, descending=True, stable=True)
    return order[: max(0, int(n))].tolist()
