"""A small, fully known RoutingTrace for the figure tests (real RoutingTrace, deterministic routing)."""

from __future__ import annotations

import pytest
import torch

from qnext_lab.trace.routing_trace import RoutingTrace

XSS = "<img src=x onerror=alert(1)>"


def known_trace(num_layers: int = 3, num_tokens: int = 40, k: int = 2, num_experts: int = 8,
                phases: bool = True) -> RoutingTrace:
    """Token n in layer l goes to expert (n + l) % E at rank 0 (weight 0.7) and (n + l + 1) % E (weight 0.3)."""
    n = torch.arange(num_tokens)
    ids = torch.stack([torch.stack([(n + layer + r) % num_experts for r in range(k)], dim=-1)
                       for layer in range(num_layers)])  # (L, N, k)
    weights = torch.tensor([0.7, 0.3] + [0.0] * (k - 2))[:k].expand(num_layers, num_tokens, k).clone()
    tokens = [f"tok{i}" for i in range(num_tokens)]
    tokens[5] = XSS
    tokens[6] = "\n"
    phase = None
    if phases:
        third = num_tokens // 3
        phase = torch.tensor([0] * third + [1] * third + [2] * (num_tokens - 2 * third))
    return RoutingTrace(
        topk_ids=ids.int(), topk_weights=weights, token_ids=n, seq_index=torch.zeros(num_tokens, dtype=torch.int32),
        position=n.int(), layer_indices=[2 * i + 1 for i in range(num_layers)], num_experts=num_experts, top_k=k,
        model_name="known", phase=phase, tokens=tokens,
    )


@pytest.fixture
def trace() -> RoutingTrace:
    return known_trace()


@pytest.fixture
def make_trace():
    """``known_trace`` itself, for tests that need other sizes (fixtures, not ``from conftest import``: with
    several test folders in one run, ``conftest`` names only one of them)."""
    return known_trace
