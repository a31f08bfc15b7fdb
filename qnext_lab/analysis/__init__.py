"""Metrics over routing traces and the cost model (interventions live in ``qnext_lab.trace.intervene``, corpus
tracing in ``qnext_lab.trace.corpus``).

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
    drift           routing_drift (two models, same tokens: top-1 flip rate, top-k overlap, weight change)
    active_params   active_parameters (total vs active per token)
    cost            model_cost -> ModelCost, cost_table (FLOPs, bytes, memory vs context), cache_memory
    context_speed   measure_context (measured prefill / decode time and cache bytes vs context)

    from qnext_lab.analysis import load_balance
    load_balance(trace)
"""

from __future__ import annotations

from .active_params import active_parameters
from .coactivation import coactivation, most_used_experts
from .context_speed import measure_context
from .cost import ModelCost, cache_memory, cost_table, full_attention_config, model_cost
from .drift import routing_drift
from .entropy import routing_entropy
from .labels import label_specialization
from .load import DEAD_SHARE, dead_experts, expert_load, load_balance, routed_counts, routed_shares
from .repetition import consecutive_repetition
from .saturation import router_saturation
from .vocabulary import vocabulary_specialization

__all__ = [
    "DEAD_SHARE", "ModelCost", "active_parameters", "cache_memory", "coactivation", "consecutive_repetition",
    "cost_table", "dead_experts", "expert_load", "full_attention_config", "label_specialization", "load_balance",
    "measure_context", "model_cost", "most_used_experts", "routed_counts", "routed_shares", "router_saturation",
    "routing_drift", "routing_entropy", "vocabulary_specialization",
]
