"""Shared test fixtures: a RoutingTrace whose routing is fully known (a real RoutingTrace, deterministic).

Folders choose their own defaults in their conftest (fixtures, not ``from conftest import``: with several test
folders in one run, ``conftest`` names only one of them).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
import torch

from qnext_lab.trace.routing_trace import RoutingTrace

sys.path.insert(0, str(Path(__file__).resolve().parent))  # random_moe.py: the one random-MoE factory

XSS = "<img src=x onerror=alert(1)>"  # token 5 of every known trace: must always show as text


def build_known_trace(
    num_layers: int = 3,
    num_tokens: int = 40,
    k: int = 2,
    num_experts: int = 8,
    phases: bool = True,
    layer_indices: Sequence[int] | None = None,
    newline_token: bool = False,
) -> RoutingTrace:
    """Token n in layer l goes to expert (n + l) % E at rank 0 (weight 0.7) and (n + l + 1) % E (weight 0.3)."""
    n = torch.arange(num_tokens)
    ids = torch.stack(
        [torch.stack([(n + layer + r) % num_experts for r in range(k)], dim=-1) for layer in range(num_layers)]
    )  # (L, N, k)
    weights = torch.tensor([0.7, 0.3] + [0.0] * (k - 2))[:k].expand(num_layers, num_tokens, k).clone()
    tokens = [f"tok{i}" for i in range(num_tokens)]
    tokens[5] = XSS
    if newline_token:
        tokens[6] = "\n"
    phase = None
    if phases:
        third = num_tokens // 3
        phase = torch.tensor([0] * third + [1] * third + [2] * (num_tokens - 2 * third))
    return RoutingTrace(
        topk_ids=ids.int(),
        topk_weights=weights,
        token_ids=n,
        seq_index=torch.zeros(num_tokens, dtype=torch.int32),
        position=n.int(),
        layer_indices=list(layer_indices) if layer_indices is not None else list(range(num_layers)),
        num_experts=num_experts,
        top_k=k,
        model_name="known",
        phase=phase,
        tokens=tokens,
    )


@pytest.fixture
def one_torch_thread():
    """One torch thread for this test only (restored after it, so later tests keep the process's setting):
    the test machine is shared, and small decode steps run faster without thread hand-offs."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def known_trace_builder() -> Callable[..., RoutingTrace]:
    return build_known_trace


def heatmap_grid(fig) -> np.ndarray:
    """The (rows, W) grid a figure's first heatmap draws; NaN where nothing is drawn.

    Handles both the column format (x, y, z points, as ``expert_heatmap`` draws) and a 2-D ``z``.
    """
    heat = fig.data[0]
    if heat.z is None or np.ndim(heat.z) != 1:
        return np.asarray(heat.z, dtype=float)
    start = int(min(heat.x))
    grid = np.full((int(max(heat.y)) + 1, int(max(heat.x)) - start + 1), np.nan)
    for x, y, z in zip(heat.x, heat.y, heat.z):
        if z == z:
            grid[int(y), int(x) - start] = z
    return grid


@pytest.fixture
def grid_of() -> Callable[..., np.ndarray]:
    """``grid_of(fig)``: the (rows, W) grid a heatmap figure draws (see ``heatmap_grid``)."""
    return heatmap_grid
