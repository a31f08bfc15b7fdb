"""Routing traces: the data (``RoutingTrace``), the context manager that records it (``capture``), the
per-model lock every user of a model takes (``lock``: ``model_lock``, ``hold``, ``ModelBusyError``), capture
at corpus scale (``trace_corpus`` -> ``ShardedTrace``) and importers of routing recorded by serving engines.

    with qnext_lab.capture(model) as trace:
        model(**batch)
"""

from __future__ import annotations

from .capture import capture  # binds the function over the submodule of the same name
from .corpus import trace_corpus
from .importers import routing_from_sglang, routing_from_vllm
from .lock import ModelBusyError, hold, model_lock
from .routing_trace import PHASES, RoutingTrace
from .shards import ShardedTrace, load_corpus_trace

__all__ = ["PHASES", "ModelBusyError", "RoutingTrace", "ShardedTrace", "capture", "hold", "load_corpus_trace",
           "model_lock", "routing_from_sglang", "routing_from_vllm", "trace_corpus"]
