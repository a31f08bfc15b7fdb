"""Routing entropy: how sure the router is, per token and per layer, from the captured probabilities.

H(t) = -sum_e p_e(t) ln p_e(t) in nats, with the router distribution p(t) over E experts (capture with
``probs=True``). Sigmoid scores (DeepSeek-V3-style routers) are normalised to sum to 1 first. ``normalized``
divides by ln E: 0 = one expert certain, 1 = uniform. Knows nothing about models or figures.

    routing_entropy(trace)                 # one row per (layer, token)
    routing_entropy(trace, per="layer")    # mean / std / min / max per layer

Dimension legend: L = layers, N = tokens, E = experts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd
import torch

from ..trace.routing_trace import RoutingTrace
from ._common import check_trace, layer_positions


def token_entropy(probs: torch.Tensor, chunk: int = 1 << 16) -> torch.Tensor:
    """(N, E) probabilities (or non-negative scores) -> (N,) float32 entropy in nats."""
    out = torch.empty(probs.shape[0], dtype=torch.float32)
    for start in range(0, probs.shape[0], chunk):  # chunks bound the temporaries
        p = probs[start : start + chunk].float()  # (n, E)
        p = p / p.sum(-1, keepdim=True).clamp_min(torch.finfo(torch.float32).tiny)
        out[start : start + chunk] = torch.special.entr(p).sum(-1)  # entr(x) = -x ln x, 0 at x = 0
    return out


def routing_entropy(trace: RoutingTrace, per: str = "token", layers: int | Iterable[int] | None = None) -> pd.DataFrame:
    """Entropy of the router distribution.

    ``per="token"``: columns layer, token (row), seq, position, token_id, entropy, normalized.
    ``per="layer"``: columns layer, tokens, mean, std, min, max (nats), mean_normalized.
    """
    trace = check_trace(trace)
    if per not in ("token", "layer"):
        raise ValueError(f"per must be 'token' or 'layer', got {per!r}")
    if trace.probs is None:
        raise ValueError(
            "routing entropy needs the router probabilities: capture with `qnext_lab.capture(model, probs=True)`"
        )
    log_e = math.log(trace.num_experts) if trace.num_experts > 1 else 1.0
    frames, rows = [], []
    for pos, layer in layer_positions(trace, layers):
        h = token_entropy(trace.probs[pos])  # (N,)
        if per == "token":
            frames.append(
                pd.DataFrame(
                    {
                        "layer": layer,
                        "token": range(trace.num_tokens),
                        "seq": trace.seq_index.numpy(),
                        "position": trace.position.numpy(),
                        "token_id": trace.token_ids.numpy(),
                        "entropy": h.numpy(),
                        "normalized": (h / log_e).numpy(),
                    }
                )
            )
        else:
            h64 = h.double()
            empty = h.numel() == 0
            rows.append(
                dict(
                    layer=layer,
                    tokens=h.numel(),
                    mean=float("nan") if empty else float(h64.mean()),
                    std=float("nan") if h.numel() < 2 else float(h64.std()),
                    min=float("nan") if empty else float(h64.min()),
                    max=float("nan") if empty else float(h64.max()),
                    mean_normalized=float("nan") if empty else float(h64.mean() / log_e),
                )
            )
    return pd.concat(frames, ignore_index=True) if per == "token" else pd.DataFrame(rows)
