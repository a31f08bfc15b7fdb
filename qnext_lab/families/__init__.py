"""The family registry: one home for what the kit knows about each MoE family transformers ships.

- ``registry.py``: ``Family`` entries (router rule, where routing is read, hash layers, zero-computation
  experts, shared expert, weight layout, whether "qnext" runs it, tiny test overrides), lookups by model
  type / model / module, ``moe_model_types()`` (the installed transformers' MoE causal LMs), the README table.
- ``rules.py``: ``RouterRule``, how a router chooses and weighs experts (softmax / sigmoid, selection-only bias,
  renormalisation, scaling, groups, weight on the input).
- ``config_fields.py``: top-k, expert counts, layer count and context length as each family spells them, and
  ``check_config`` (impossible configs refused with a ValueError).
- ``layouts.py``: ``stack_layout(config)``, the per-layer kinds (full, sliding, chunked, indexed, compressed,
  state) and shapes the cost model multiplies.

Sits just above ``kernels``: runtime, trace and analysis read it; it imports nothing else of the package but
``checks``.
"""

from __future__ import annotations

from .._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "FAMILIES": "registry",
        "Family": "registry",
        "RULES": "rules",
        "RouterRule": "rules",
        "StackLayout": "layouts",
        "check_config": "config_fields",
        "context_length": "config_fields",
        "families_markdown": "registry",
        "family_for": "registry",
        "family_of_model": "registry",
        "moe_model_types": "registry",
        "num_experts": "config_fields",
        "stack_layout": "layouts",
        "top_k": "config_fields",
    },
)
