"""Find the MoE layers of a Hugging Face model: the experts module, its router, and the layer index.

transformers v5 builds every MoE family the same way: a block holding a router (``gate`` or ``router``)
that returns ``(router_logits, top_k_weights, top_k_index)``, and an experts module decorated with
``@use_experts_implementation`` that is called as ``experts(hidden_states, top_k_index, top_k_weights)``.
This module finds those pairs by module path (what counts as an experts module is decided once, by
``runtime.experts_module.is_experts_module``), says how each router's logits become probabilities, and
checks the layer numbers users name (``select_layers``, by ``checks.as_int_list``). It knows nothing about
hooks, traces or figures.

    for layer in find_moe_layers(model):
        print(layer.index, layer.path, layer.num_experts, layer.probs_kind)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from ..checks import as_int_list
from ..runtime.experts_module import is_experts_module

# Routers whose full distribution is softmax(router_logits) (GPT-OSS applies its softmax to the top-k
# logits only, which is the full softmax renormalised over the chosen experts, so the full softmax is
# the consistent distribution there too).
SOFTMAX_ROUTER_FAMILIES = (
    "qwen2_moe",
    "qwen3_moe",
    "qwen3_next",
    "qwen3_vl_moe",
    "qwen3_omni_moe",
    "qwen3_5_moe",
    "mixtral",
    "olmoe",
    "flex_olmo",
    "gpt_oss",
)

_LAYER_RE = re.compile(r"(?:^|\.)(?:layers|h|blocks|block|layer)\.(\d+)(?:\.|$)")


@dataclass(frozen=True)
class MoELayer:
    """One MoE layer found in a model."""

    index: int  # decoder-layer index, from the module path
    path: str  # module path of the experts module, e.g. "model.layers.3.mlp.experts"
    experts: nn.Module
    router: nn.Module | None  # None when no router sibling was found (probs and interventions unavailable)
    num_experts: int

    @property
    def probs_kind(self) -> str | None:
        """``"softmax"``, ``"sigmoid"`` (DeepSeek-V3-style scores) or None when unknown."""
        return router_probs_kind(self.router) if self.router is not None else None


def router_probs_kind(router: nn.Module) -> str | None:
    """How the router's logits map to a distribution over experts, or None if this router is unknown."""
    if hasattr(router, "e_score_correction_bias"):  # DeepSeek-V3 / GLM-4-MoE: sigmoid scores + selection bias
        return "sigmoid"
    family = type(router).__module__.split(".")
    if len(family) >= 3 and family[:2] == ["transformers", "models"] and family[2] in SOFTMAX_ROUTER_FAMILIES:
        return "softmax"
    return getattr(router, "qnext_lab_probs_kind", None)  # user-defined routers may declare it


def router_probs(kind: str, logits: torch.Tensor) -> torch.Tensor:
    """(T, E) logits -> (T, E) float32 probabilities (or scores for ``"sigmoid"``)."""
    if kind == "softmax":
        return torch.softmax(logits.float(), dim=-1)
    if kind == "sigmoid":
        return torch.sigmoid(logits.float())
    raise ValueError(f"unknown router probability kind {kind!r}")


def _find_router(parent: nn.Module, experts: nn.Module) -> nn.Module | None:
    for name in ("gate", "router"):
        candidate = getattr(parent, name, None)
        if isinstance(candidate, nn.Module) and candidate is not experts and not isinstance(candidate, nn.Linear):
            return candidate
    return None


def find_moe_layers(model: nn.Module) -> list[MoELayer]:
    """All MoE layers of ``model`` in module order; raises ValueError if there are none."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected a torch.nn.Module (a transformers model), got {type(model).__name__}")
    found: list[MoELayer] = []
    modules = dict(model.named_modules())
    for path, module in modules.items():
        if not is_experts_module(module):
            continue
        parent_path = path.rsplit(".", 1)[0] if "." in path else ""
        parent = modules[parent_path]
        match = _LAYER_RE.findall(path)
        index = int(match[-1]) if match else len(found)
        found.append(MoELayer(index, path, module, _find_router(parent, module), int(module.num_experts)))
    if not found:
        raise ValueError(
            f"{type(model).__name__} has no transformers v5 experts module (a module built with "
            "@use_experts_implementation, called as experts(hidden_states, top_k_index, top_k_weights)); "
            "is this a Mixture-of-Experts model loaded with transformers >= 5?"
        )
    indices = [layer.index for layer in found]
    if len(set(indices)) != len(indices):  # several MoE stacks (e.g. encoder + decoder): number them in order
        found = [MoELayer(i, m.path, m.experts, m.router, m.num_experts) for i, m in enumerate(found)]
    return found


def select_layers(found: list[MoELayer], layers: int | Iterable[int] | None, *, what: str = "layers") -> list[MoELayer]:
    """The layers of ``found`` named by decoder-layer index: one index, an iterable of them, or None (all).

    Raises TypeError for anything but integral numbers (a string such as ``'03'`` included) and ValueError
    for an empty selection or an index that is not an MoE layer. The result keeps the model's layer order.
    """
    if layers is None:
        return list(found)
    if isinstance(layers, (str, bytes)):
        raise TypeError(f"{what} must be decoder-layer indices such as [0, 3], got the string {layers!r}")
    known = sorted(m.index for m in found)
    wanted = as_int_list(layers, what, hint=f" (decoder-layer indices such as {known[:2]})")
    if not wanted:
        raise ValueError(f"{what}=[] selects no layer; pass None for every MoE layer, or some of {known}")
    unknown = sorted({i for i in wanted if i not in known})
    if unknown:
        raise ValueError(f"{what} {unknown} are not MoE layers of this model; MoE layers: {known}")
    return [m for m in found if m.index in set(wanted)]
