"""The one factory of small random MoE models for the tests, built from the family registry.

``random_moe("deepseek_v4")`` builds a tiny random model of any MoE family the installed transformers ships
(``qnext_lab.families.registry.tiny_config``: 4 layers, 8 experts, top-2, the entry's own overrides), with its
routers sharpened (random init is near-uniform: every expert would tie) and the experts implementation set.
Tests that need exact sizes pass ``tiny=False`` and every field themselves (``trace/moe_models.py``,
``runtime/families.py``, ``thinking/toy.py``, ``thinking/qwen3.py`` are thin wrappers over this one).

    model = random_moe("qwen3_next", implementation="qnext")
"""

from __future__ import annotations

import torch
import transformers
from torch import nn

import qnext_lab  # noqa: F401  (registers the "qnext" experts implementation)
from qnext_lab.families.registry import tiny_config

ROUTER_WEIGHTS = ("gate.weight", "router.weight", "router.classifier.weight")  # weights that score experts


def moe_config(model_type: str, *, tiny: bool = True, **overrides) -> transformers.PretrainedConfig:
    """A config of ``model_type``: the registry's tiny sizes + ``overrides`` (``tiny=False``: defaults + overrides)."""
    if tiny:
        return tiny_config(model_type, **overrides)
    return transformers.AutoConfig.for_model(model_type, **overrides)


def sharpen_routers(model: nn.Module, scale: float = 1.0) -> None:
    """Redraw router weights N(0, scale) so routing is decisive (zero or tiny init ties every expert)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2 and (name.endswith(ROUTER_WEIGHTS) or name.endswith(".router.layer.weight")):
                p.normal_(0, scale)


def random_moe(
    model_type: str | transformers.PretrainedConfig,
    *,
    seed: int = 0,
    implementation: str | None = "eager",
    sharpen: bool = True,
    tiny: bool = True,
    **overrides,
) -> nn.Module:
    """A random ``AutoModelForCausalLM`` of ``model_type`` (or of a given config), in eval mode."""
    config = model_type if not isinstance(model_type, str) else moe_config(model_type, tiny=tiny, **overrides)
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(config).eval()
    if sharpen:
        sharpen_routers(model)
    if implementation is not None and hasattr(model, "set_experts_implementation"):
        try:
            model.set_experts_implementation(implementation)
        except (ValueError, AttributeError):  # models without an experts-interface module
            if implementation != "eager":
                raise
    return model
