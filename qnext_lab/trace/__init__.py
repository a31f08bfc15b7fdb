"""Routing traces: the data (``RoutingTrace``), the context manager that records it (``capture``) and the
per-model lock every user of a model takes (``lock``: ``model_lock``, ``hold``, ``ModelBusyError``).

    with qnext_lab.capture(model) as trace:
        model(**batch)
"""

from __future__ import annotations

from .capture import capture  # binds the function over the submodule of the same name
from .lock import ModelBusyError, hold, model_lock
from .routing_trace import PHASES, RoutingTrace

__all__ = ["PHASES", "ModelBusyError", "RoutingTrace", "capture", "hold", "model_lock"]
