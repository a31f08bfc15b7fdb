"""Routing traces: the data (``RoutingTrace``) and the context manager that records it (``capture``).

    with qnext_lab.capture(model) as trace:
        model(**batch)
"""

from __future__ import annotations

from .capture import capture  # binds the function over the submodule of the same name
from .routing_trace import PHASES, RoutingTrace

__all__ = ["PHASES", "RoutingTrace", "capture"]
