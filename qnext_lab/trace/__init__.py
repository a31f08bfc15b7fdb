"""Routing traces: the data (``RoutingTrace``), the context manager that records it (``capture``), the
per-model lock every user of a model takes (``lock``: ``model_lock``, ``hold``, ``ModelBusyError``), capture
at corpus scale (``trace_corpus`` -> ``ShardedTrace``), importers of routing recorded by serving engines, and
``offload`` (run the model from a bounded per-layer expert cache that counts its loads).

    with qnext_lab.capture(model) as trace:
        model(**batch)
"""

from __future__ import annotations

from .._lazy import lazy_exports

# public name -> module of this package (imported on first access; see qnext_lab/_lazy.py)
__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ModelBusyError": "lock",
        "PHASES": "phases",
        "RoutingTrace": "routing_trace",
        "ShardedTrace": "shards",
        "SelectionTrace": "selection",
        "capture": "capturing",
        "capture_selection": "selecting",
        "hold": "lock",
        "intervene": "interventions",
        "load_corpus_trace": "shards",
        "model_lock": "lock",
        "offload": "offloading",
        "Offload": "offloading",
        "routing_from_sglang": "importers",
        "routing_from_vllm": "importers",
        "trace_corpus": "corpus",
    },
)
