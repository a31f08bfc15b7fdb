"""Metrics over routing traces, dataset tracing and routing interventions.

Every metric takes a RoutingTrace and returns a pandas DataFrame; ``qnext_lab.figures.analysis`` draws
each one. One concept per module:

    load            expert_load, load_balance (share, MaxVio, entropy, exp(H)), routed_counts / routed_shares
                    (the one load count), dead_experts (share < DEAD_SHARE of the uniform 1/E)
    entropy         routing_entropy (needs probs)
    coactivation    coactivation (C[i, j] = N(i, j) / N(i)), most_used_experts
    repetition      consecutive_repetition (top-1 / any-of-top-k vs random)
    vocabulary      vocabulary_specialization ((p - k/E) / (1 - k/E))
    labels          label_specialization (task / phase / domain)
    saturation      router_saturation (two checkpoints, same inputs)
    active_params   active_parameters (total vs active per token)
    dataset         trace_dataset (sharded, resumable, data-parallel under accelerate)
    shards          load_dataset_trace -> ShardedTrace (lazy reader merging shards)
    intervene       intervene (ablate / force experts, change top-k)

    from qnext_lab.analysis import load_balance
    load_balance(trace)
"""

from __future__ import annotations

from .active_params import active_parameters
from .coactivation import coactivation, most_used_experts
from .dataset import trace_dataset
from .entropy import routing_entropy
from .intervene import intervene  # the function, bound over the submodule of the same name
from .labels import label_specialization
from .load import DEAD_SHARE, dead_experts, expert_load, load_balance, routed_counts, routed_shares
from .repetition import consecutive_repetition
from .saturation import router_saturation
from .shards import ShardedTrace, load_dataset_trace
from .vocabulary import vocabulary_specialization

__all__ = [
    "DEAD_SHARE", "ShardedTrace", "active_parameters", "coactivation", "consecutive_repetition", "dead_experts",
    "expert_load", "intervene", "label_specialization", "load_balance", "load_dataset_trace", "most_used_experts",
    "routed_counts", "routed_shares", "router_saturation", "routing_entropy", "trace_dataset",
    "vocabulary_specialization",
]
