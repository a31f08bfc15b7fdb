"""Routing drift: how much a changed model (quantised, fine-tuned, ...) routes the same tokens differently.

Per layer, over the tokens both traces share (same ids, sequences and positions, in the same order):

- ``top1_flip_rate``: share of tokens whose highest-weight expert changed.
- ``topk_overlap``: mean over tokens of |top-k(a) ∩ top-k(b)| / k (1 = same expert set; two independent
  uniform routers give k/E, reported as ``random_overlap``). This is |∩|/k, not Jaccard (|∩|/|∪|).
- ``weight_change``: mean over tokens of the total-variation distance between the two routing-weight vectors
  (each token's k weights spread over all E experts, zero elsewhere): 0.5 * sum_e |w_a(e) - w_b(e)|; 0 = same
  experts with the same weights, 1 = disjoint experts (for weights that sum to 1).

Knows RoutingTrace; nothing about models, quantisation or figures.

    drift = routing_drift(trace_of_original, trace_of_quantised)   # one row per layer
    qnext_lab.figures.drift_figure(drift)

Dimension legend: N = tokens, k = top-k.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import torch

from ..trace.routing_trace import RoutingTrace
from ._common import check_same_tokens, check_trace, layer_positions, shared_total

__all__ = ["routing_drift", "weight_change"]


def weight_change(
    ids_a: torch.Tensor, w_a: torch.Tensor, ids_b: torch.Tensor, w_b: torch.Tensor, chunk: int = 1 << 16
) -> torch.Tensor:
    """(N, k) ids and weights of two routings -> (N,) float64 total-variation distance per token."""
    out = torch.empty(ids_a.shape[0], dtype=torch.float64)
    for s in range(0, ids_a.shape[0], chunk):  # chunks bound the (n, k, k) comparison
        ia, ib = ids_a[s : s + chunk], ids_b[s : s + chunk]
        wa, wb = w_a[s : s + chunk].double(), w_b[s : s + chunk].double()
        same = ia[:, :, None] == ib[:, None, :]  # (n, k, k): a's rank i is b's rank j
        wb_at_a = (same * wb[:, None, :]).sum(-1)  # (n, k): b's weight on each of a's experts (0 if b lacks it)
        b_only = (wb * ~same.any(1)).sum(-1)  # (n,): b's weight on experts a did not choose
        out[s : s + chunk] = 0.5 * ((wa - wb_at_a).abs().sum(-1) + b_only)
    return out


def routing_drift(
    trace_a: RoutingTrace, trace_b: RoutingTrace, layers: int | Iterable[int] | None = None
) -> pd.DataFrame:
    """One row per layer: layer, tokens, top1_flip_rate, topk_overlap, weight_change, random_overlap (k/E).

    ``trace_a`` is the reference (e.g. the original model), ``trace_b`` the changed model on the same tokens.
    ValueError when the traces differ in tokens or architecture, or a layer is missing from ``trace_b``.
    """
    a, b = check_trace(trace_a, "trace_a"), check_trace(trace_b, "trace_b")
    check_same_tokens(a, b, "routing drift")
    k, rows = a.top_k, []
    for pos_a, layer in layer_positions(a, layers):
        if layer not in b.layer_indices:
            raise ValueError(f"layer {layer} is in trace_a but not in trace_b (captured: {b.layer_indices})")
        pos_b = b.layer_indices.index(layer)
        ids_a, ids_b = a.topk_ids[pos_a], b.topk_ids[pos_b]  # (N, k), rank 0 = highest weight
        n = ids_a.shape[0]
        if n == 0 or k == 0:
            flip = overlap = change = float("nan")
        else:
            flip = float((ids_a[:, 0] != ids_b[:, 0]).double().mean())
            overlap = shared_total(ids_a, ids_b, a.num_experts) / (n * k)
            change = float(weight_change(ids_a, a.topk_weights[pos_a], ids_b, b.topk_weights[pos_b]).mean())
        rows.append(
            dict(
                layer=layer,
                tokens=n,
                top1_flip_rate=flip,
                topk_overlap=overlap,
                weight_change=change,
                random_overlap=k / a.num_experts,
            )
        )
    return pd.DataFrame(rows)
