"""Expert load per layer: how routed slots spread over experts, how balanced that is, which experts are dead.

The one home of "expert load" and "dead expert" in qnext_lab. ``routed_counts`` / ``routed_shares`` work on
bare top-k id tensors (so figures, training and evaluation count load the same way); ``expert_load`` gives
each expert's count and share of a layer's routed slots (N*k) as a DataFrame; ``load_balance`` sums a layer
up: MaxVio = (max load - mean load) / mean load (0 when perfectly balanced), the load entropy H (nats), the
effective number of experts exp(H) (E when balanced, 1 when one expert takes everything) and the number of
dead experts. An expert is *dead* in a layer when its share of the layer's routed slots is below
``DEAD_SHARE`` times the uniform share 1/E. Knows nothing about models or figures.

    load_balance(trace)            # one row per layer
    dead_experts(trace)            # {decoder layer: [dead expert ids]}

Dimension legend: L = layers, N = tokens, k = top-k, E = experts.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..trace.routing_trace import RoutingTrace
from ._common import check_trace, layer_positions

DEAD_SHARE = 0.2
"""An expert is dead when it takes less than this fraction of the uniform share 1/E of a layer's routed slots
(0.2: an expert used five times less than under perfect balance does almost no work; a count of exactly 0 is
too strict for long runs, where a few stray tokens reach every expert)."""


def _ids_tensor(topk_ids: Any) -> torch.Tensor:
    ids = torch.as_tensor(topk_ids)
    if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
        raise TypeError(f"expert ids must be an integer tensor, got {ids.dtype}")
    if ids.dim() != 3:
        raise ValueError(f"expert ids must have shape (L, N, k), got {tuple(ids.shape)}")
    return ids


def routed_counts(topk_ids: Any, num_experts: int, tokens: Any = None) -> torch.Tensor:
    """(L, N, k) expert ids (tensor or array) -> (L, E) int64 routed slots per layer and expert.

    ``tokens``: optional (N,) bool mask of the tokens to count (e.g. one phase, or padding excluded).
    """
    ids = _ids_tensor(topk_ids)  # (L, N, k)
    num_experts = int(num_experts)
    if tokens is not None:
        mask = torch.as_tensor(tokens)
        if mask.dtype != torch.bool or mask.shape != (ids.shape[1],):
            raise ValueError(
                f"tokens must be a bool mask of shape ({ids.shape[1]},), got {mask.dtype} {tuple(mask.shape)}"
            )
        ids = ids[:, mask]
    L = ids.shape[0]
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= num_experts):
        raise ValueError(f"expert ids must lie in [0, {num_experts}), got [{int(ids.min())}, {int(ids.max())}]")
    offsets = torch.arange(L, dtype=torch.int64).reshape(L, 1, 1) * num_experts  # (L, 1, 1)
    flat = (ids.to(torch.int64) + offsets).reshape(-1)  # (L*N*k,)
    counts = torch.zeros(L * num_experts, dtype=torch.int64)
    counts.index_add_(0, flat, torch.ones(1, dtype=torch.int64).expand(flat.numel()))
    return counts.reshape(L, num_experts)  # (L, E)


def routed_shares(topk_ids: Any, num_experts: int, tokens: Any = None) -> torch.Tensor:
    """(L, N, k) expert ids -> (L, E) float64 share of each layer's routed slots; rows sum to 1 (0 if empty)."""
    counts = routed_counts(topk_ids, num_experts, tokens).double()  # (L, E)
    totals = counts.sum(dim=1, keepdim=True)  # (L, 1)
    return torch.where(totals > 0, counts / totals.clamp_min(1), torch.zeros_like(counts))


def dead_mask(shares: Any) -> torch.Tensor:
    """(..., E) slot shares (each row summing to 1) -> (..., E) bool: share < DEAD_SHARE / E.

    An empty layer (row of zeros) has every expert dead.
    """
    s = torch.as_tensor(np.asarray(shares) if not isinstance(shares, torch.Tensor) else shares).double()
    if s.dim() == 0 or s.shape[-1] < 1:
        raise ValueError(f"shares must have a last dimension of E experts, got shape {tuple(s.shape)}")
    return s < DEAD_SHARE / s.shape[-1]


def dead_experts(
    load: RoutingTrace | torch.Tensor | np.ndarray, layers: int | Iterable[int] | None = None
) -> dict[int, list[int]] | list[list[int]]:
    """The dead experts of each layer (share < ``DEAD_SHARE`` * 1/E of the layer's routed slots).

    ``load`` is a RoutingTrace -> ``{decoder layer: [expert ids]}`` (``layers`` picks decoder layers), or an
    (L, E) array of slot shares (rows summing to 1) -> ``[[expert ids] per row]``.
    """
    if isinstance(load, RoutingTrace):
        picked = layer_positions(load, layers)
        shares = routed_shares(load.topk_ids[[p for p, _ in picked]], load.num_experts)  # (L', E)
        return {layer: torch.nonzero(row).flatten().tolist() for (_, layer), row in zip(picked, dead_mask(shares))}
    if layers is not None:
        raise ValueError("layers= selects decoder layers of a RoutingTrace; slice a shares array yourself")
    mask = dead_mask(load)
    if mask.dim() != 2:
        raise ValueError(f"shares must have shape (L, E), got {tuple(mask.shape)}")
    return [torch.nonzero(row).flatten().tolist() for row in mask]


def expert_load(trace: RoutingTrace, layers: int | Iterable[int] | None = None) -> pd.DataFrame:
    """One row per (layer, expert): ``count`` of routed slots, ``share`` of the layer's N*k slots, ``dead``."""
    trace = check_trace(trace)
    E, picked = trace.num_experts, layer_positions(trace, layers)
    counts = routed_counts(trace.topk_ids[[p for p, _ in picked]], E)  # (L', E)
    shares = counts.double() / counts.sum(dim=1, keepdim=True).clamp_min(1)  # (L', E)
    dead = dead_mask(shares)  # (L', E)
    frames = [
        pd.DataFrame(
            {
                "layer": layer,
                "expert": range(E),
                "count": counts[i].numpy(),
                "share": shares[i].numpy(),
                "dead": dead[i].numpy(),
            }
        )
        for i, (_, layer) in enumerate(picked)
    ]
    return pd.concat(frames, ignore_index=True)


def load_balance(trace: RoutingTrace, layers: int | Iterable[int] | None = None) -> pd.DataFrame:
    """One row per layer: tokens, max_vio, entropy (nats), effective_experts = exp(entropy), dead_experts
    (how many, see ``DEAD_SHARE``), max_share; plus ``uniform_entropy`` = ln E for reference."""
    trace = check_trace(trace)
    E, picked = trace.num_experts, layer_positions(trace, layers)
    all_counts = routed_counts(trace.topk_ids[[p for p, _ in picked]], E).double()  # (L', E)
    rows = []
    for (_, layer), counts in zip(picked, all_counts):
        total = counts.sum()
        if total == 0:
            rows.append(
                dict(
                    layer=layer,
                    tokens=0,
                    max_vio=float("nan"),
                    entropy=float("nan"),
                    effective_experts=float("nan"),
                    dead_experts=E,
                    max_share=float("nan"),
                )
            )
            continue
        share = counts / total  # (E,)
        mean = total / E
        entropy = -(share * torch.log(share.clamp_min(1e-300))).sum()  # 0 log 0 = 0
        rows.append(
            dict(
                layer=layer,
                tokens=trace.num_tokens,
                max_vio=float((counts.max() - mean) / mean),
                entropy=float(entropy),
                effective_experts=float(entropy.exp()),
                dead_experts=int(dead_mask(share).sum()),
                max_share=float(share.max()),
            )
        )
    frame = pd.DataFrame(rows)
    frame["uniform_entropy"] = float(torch.log(torch.tensor(float(E))))
    return frame
