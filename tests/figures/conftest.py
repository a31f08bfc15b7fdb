"""Figure tests use the shared known trace (tests/conftest.py) with odd decoder-layer indices and a newline token."""

from __future__ import annotations

import pytest

from qnext_lab.trace.routing_trace import RoutingTrace


@pytest.fixture
def make_trace(known_trace_builder):
    """The known trace at other sizes; layer i is decoder layer 2i+1 (positions and layer indices differ)."""

    def make(num_layers: int = 3, **kwargs) -> RoutingTrace:
        return known_trace_builder(
            num_layers=num_layers, layer_indices=[2 * i + 1 for i in range(num_layers)], newline_token=True, **kwargs
        )

    return make


@pytest.fixture
def trace(make_trace) -> RoutingTrace:
    return make_trace()
