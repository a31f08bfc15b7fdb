"""Metrics over routing traces and the cost model (interventions live in ``qnext_lab.trace.interventions``, corpus
tracing in ``qnext_lab.trace.corpus``).

Every metric takes a RoutingTrace and returns a pandas DataFrame; ``qnext_lab.figures.analysis`` draws
each one. One concept per module:

    load            expert_load, load_balance (share, MaxVio, entropy, exp(H)), routed_counts / routed_shares
                    (the one load count), dead_experts (share < DEAD_SHARE of the uniform 1/E)
    entropy         routing_entropy (needs probs)
    coactivations   coactivation (C[i, j] = N(i, j) / N(i)), most_used_experts
    repetition      consecutive_repetition (top-1 / any-of-top-k vs random)
    vocabulary      vocabulary_specialization ((p - k/E) / (1 - k/E))
    labels          label_specialization (task / phase / domain)
    saturation      router_saturation (two checkpoints, same inputs)
    drift           routing_drift (two models, same tokens: top-1 flip rate, top-k overlap, weight change)
    active_params   active_parameters (total vs active per token)
    cache_replay    expert_cache (LRU / LFU / static / Belady replay of a trace's expert requests), cache_misses
    offload_speed   offload_cost -> OffloadCost (memory tiers, formats, hit rate -> decode tokens/s), Machine, MACHINES
    cost            model_cost -> ModelCost, cost_table (FLOPs, bytes, memory vs context), cache_memory
    context_speed   measure_context (measured prefill / decode time and cache bytes vs context)
    article         article_check, decode_throughput_table, qwen3_32b_config (the Qwen3-Next article's numbers
                    recomputed: parameters, 6·N·D training compute, roofline decode throughput vs batch)
    specialisation_test  expert_specialisation, named_experts, routing_overlap (expert preference per label and routing overlap
                    of same- vs different-label sequences, against a seeded permutation baseline)

    from qnext_lab.analysis import load_balance
    load_balance(trace)
"""

from __future__ import annotations

from .._lazy import lazy_exports

# public name -> module of this package (imported on first access; see qnext_lab/_lazy.py)
__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ARTICLE": "article",
        "DEAD_SHARE": "load",
        "MACHINES": "offload_speed",
        "Machine": "offload_speed",
        "OffloadCost": "offload_speed",
        "expert_bytes": "offload_speed",
        "format_bytes": "offload_speed",
        "ModelCost": "cost",
        "active_parameters": "active_params",
        "article_check": "article",
        "cache_memory": "cost",
        "cache_misses": "cache_replay",
        "coactivation": "coactivations",
        "consecutive_repetition": "repetition",
        "cost_table": "cost",
        "dead_experts": "load",
        "decode_throughput": "article",
        "decode_throughput_table": "article",
        "equal_memory_throughput": "article",
        "expert_cache": "cache_replay",
        "expert_load": "load",
        "full_attention_config": "cost",
        "label_specialization": "labels",
        "load_balance": "load",
        "max_batch": "article",
        "measure_context": "context_speed",
        "model_cost": "cost",
        "most_used_experts": "coactivations",
        "named_experts": "specialisation_test",
        "qwen3_32b_config": "article",
        "offload_cost": "offload_speed",
        "routed_counts": "load",
        "routed_shares": "load",
        "router_saturation": "saturation",
        "routing_drift": "drift",
        "routing_entropy": "entropy",
        "routing_overlap": "specialisation_test",
        "expert_specialisation": "specialisation_test",
        "training_compute_ratio": "article",
        "vocabulary_specialization": "vocabulary",
    },
)
