"""What an experts module is: the one test used by the runtime, ``load()`` and routing capture.

transformers v5 builds every MoE family's expert bank as a class decorated with
``@use_experts_implementation``: the decorator sets the layout flags ``has_gate``, ``has_bias``,
``is_transposed`` and ``is_concatenated`` on each instance, and the class holds ``num_experts`` and the stacked
``down_proj`` weights. A module with all of these is an experts module; anything else is not. Knows nothing
about kernels, hooks or traces.

    is_experts_module(model.model.layers[0].mlp.experts)   # True
    experts_modules(model)                                 # ["model.layers.0.mlp.experts", ...]
"""

from __future__ import annotations

from torch import nn

__all__ = ["EXPERTS_ATTRIBUTES", "experts_modules", "is_experts_module", "missing_experts_attributes"]

EXPERTS_ATTRIBUTES = ("has_gate", "has_bias", "is_transposed", "is_concatenated", "num_experts", "down_proj")
"""Set by ``@use_experts_implementation`` (the four flags) and by every decorated class (``num_experts``,
``down_proj``); the ``"qnext"`` implementation reads all of them."""


def missing_experts_attributes(module: nn.Module) -> list[str]:
    """The attributes of ``EXPERTS_ATTRIBUTES`` that ``module`` lacks (empty for an experts module)."""
    return [name for name in EXPERTS_ATTRIBUTES if not hasattr(module, name)]


def is_experts_module(module: nn.Module) -> bool:
    """True for experts modules built with transformers' ``@use_experts_implementation``."""
    return isinstance(module, nn.Module) and not missing_experts_attributes(module)


def experts_modules(model: nn.Module) -> list[str]:
    """Module paths of the experts modules of ``model``, in module order."""
    return [name for name, module in model.named_modules() if is_experts_module(module)]
