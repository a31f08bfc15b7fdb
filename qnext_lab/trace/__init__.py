"""Routing traces: the data (``RoutingTrace``) and the context manager that records it (``capture``).

    with qnext_lab.capture(model) as trace:
        model(**batch)
"""

from __future__ import annotations

from typing import Any

from .routing_trace import PHASES, RoutingTrace

__all__ = ["PHASES", "RoutingTrace", "capture"]


def __getattr__(name: str) -> Any:
    if name == "capture":  # imported lazily: capture knows about transformers modules
        from .capture import capture

        return capture
    raise AttributeError(f"module 'qnext_lab.trace' has no attribute {name!r}")
