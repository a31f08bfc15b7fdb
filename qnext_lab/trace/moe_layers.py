"""Find the MoE layers of a Hugging Face model: the experts module, its router, and the layer index.

transformers v5 builds every MoE family the same way: a block holding a router (``gate`` or ``router``)
that returns ``(router_logits, top_k_weights, top_k_index)``, and an experts module decorated with
``@use_experts_implementation`` that is called as ``experts(hidden_states, top_k_index, top_k_weights)``.
This module finds those pairs by module path (what counts as an experts module is decided once, by
``runtime.experts_module.is_experts_module``); for families whose experts module does not receive the real
choice (Llama 4, JetMoE: no experts-interface module; LongCat-Flash: zero-computation experts remapped before
the call) it finds the router named by the family registry (``families.registry``, ``capture="router"``)
instead. Each layer carries its router's rule (how logits become probabilities), whether it is hash-routed
(DeepSeek-V4's token-id table) and how many zero-computation experts it has. It also checks the layer
numbers users name (``select_layers``, by ``checks.as_int_list``). It knows nothing about hooks, traces or figures.

    for layer in find_moe_layers(model):
        print(layer.index, layer.path, layer.num_experts, layer.probs_kind)
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from ..checks import as_int_list
from ..families.config_fields import zero_experts
from ..families.registry import Family, family_of_model, family_of_module
from ..families.rules import RULES, RouterRule
from ..runtime.experts_module import is_experts_module

_LAYER_RE = re.compile(r"(?:^|\.)(?:layers|h|blocks|block|layer)\.(\d+)(?:\.|$)")


@dataclass(frozen=True)
class MoELayer:
    """One MoE layer found in a model."""

    index: int  # decoder-layer index, from the module path
    path: str  # module path of the experts module, e.g. "model.layers.3.mlp.experts"
    experts: nn.Module
    router: nn.Module | None  # None when no router sibling was found (probs and interventions unavailable)
    num_experts: int  # expert ids the router can choose: routed + zero-computation experts
    family: Family | None = None  # the registry entry of the router's family (None: not a transformers router)
    hashed: bool = False  # routed by a token-id table (DeepSeek-V4 hash layers): an expert may repeat
    zero_experts: int = 0  # ids >= num_experts - zero_experts are zero-computation (identity) experts
    from_router: bool = False  # routing read from the router's output instead of the experts' inputs

    @property
    def rule(self) -> RouterRule | None:
        """How this layer's router chooses and weighs (None when unknown)."""
        return router_rule(self.router) if self.router is not None else None

    @property
    def probs_kind(self) -> str | None:
        """``"softmax"``, ``"sigmoid"`` (DeepSeek-V3-style scores) or None when unknown."""
        return router_probs_kind(self.router) if self.router is not None else None


def router_rule(router: nn.Module) -> RouterRule | None:
    """The registry's rule for ``router``'s family; None when neither the registry nor the router says."""
    family = family_of_module(router)
    rule = family.rule if family is not None else None
    if (
        rule is not None
        and rule.name == "unknown"
        and all(
            hasattr(router, a) for a in ("e_score_correction_bias", "num_group", "topk_group", "routed_scaling_factor")
        )
    ):
        rule = RULES["sigmoid_biased_grouped"]  # an unregistered router built like DeepSeek-V3's (same attributes)
    if rule is None or rule.probs_kind is None:
        declared = getattr(router, "qnext_lab_probs_kind", None)  # user-defined routers may declare it
        return RouterRule("declared", "sigmoid" if declared == "sigmoid" else "softmax") if declared else None
    return rule


def router_probs_kind(router: nn.Module) -> str | None:
    """How the router's logits map to a distribution over experts, or None if this router is unknown."""
    rule = router_rule(router)
    return rule.probs_kind if rule is not None else None


def router_probs(kind: str, logits: torch.Tensor) -> torch.Tensor:
    """(T, E) logits -> (T, E) float32 probabilities (or scores for ``"sigmoid"``)."""
    if kind == "softmax":
        return torch.softmax(logits.float(), dim=-1)
    if kind == "sigmoid":
        return torch.sigmoid(logits.float())
    raise ValueError(f"unknown router probability kind {kind!r}")


def selection_bias(router: nn.Module, args: tuple) -> torch.Tensor | None:
    """The (E,) bias ``router`` adds to its scores for the choice only, or None when it has none to give.

    DeepSeek-V3 and its kin keep it on the router (``e_score_correction_bias``); MiniMax-M2's MoE block keeps
    it and passes it as the router's second argument (``gate(hidden_states, e_score_correction_bias)``).
    """
    bias = getattr(router, "e_score_correction_bias", None)
    if bias is None and len(args) > 1 and isinstance(args[1], torch.Tensor) and args[1].dim() == 1:
        bias = args[1]
    return bias if isinstance(bias, torch.Tensor) else None


def _find_router(parent: nn.Module, experts: nn.Module) -> nn.Module | None:
    for name in ("gate", "router"):
        candidate = getattr(parent, name, None)
        if isinstance(candidate, nn.Module) and candidate is not experts and not isinstance(candidate, nn.Linear):
            return candidate
    return None


def _layer_index(path: str, default: int) -> int:
    match = _LAYER_RE.findall(path)
    return int(match[-1]) if match else default


def _router_layers(model: nn.Module, family: Family, modules: dict[str, nn.Module]) -> list[MoELayer]:
    """Layers of a ``capture="router"`` family: its routers (by class and path) and their sibling experts."""
    config = getattr(model, "config", None)
    zero = zero_experts(config) if family.zero_experts_field and config is not None else 0
    found = []
    for path, module in modules.items():
        if type(module).__name__ not in family.router_classes or not path.endswith(family.router_path):
            continue
        parent = modules[path.rsplit(".", 1)[0] if "." in path else ""]
        experts = getattr(parent, "experts", None)
        experts = parent if experts is None else experts
        E = int(getattr(module, "n_routed_experts", None) or module.num_experts)  # LongCat: routed + zero
        index = _layer_index(path, len(found))
        found.append(MoELayer(index, path, experts, module, E, family, False, zero, True))
    return found


def find_moe_layers(model: nn.Module) -> list[MoELayer]:
    """All MoE layers of ``model`` in module order; raises ValueError if there are none."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected a torch.nn.Module (a transformers model), got {type(model).__name__}")
    modules = dict(model.named_modules())
    family = family_of_model(model) if hasattr(model, "config") else None
    if family is not None and family.capture == "router":
        found = _router_layers(model, family, modules)
    else:
        found = []
        for path, module in modules.items():
            if not is_experts_module(module):
                continue
            parent = modules[path.rsplit(".", 1)[0] if "." in path else ""]
            router = _find_router(parent, module)
            fam = family_of_module(router) if router is not None else None
            hashed = router is not None and hasattr(router, "tid2eid")  # DeepSeek-V4 hash layers
            index = _layer_index(path, len(found))
            found.append(MoELayer(index, path, module, router, int(module.num_experts), fam, hashed))
    if not found:
        raise ValueError(
            f"{type(model).__name__} has no MoE layer the kit can read: no transformers v5 experts module (a "
            "module built with @use_experts_implementation, called as experts(hidden_states, top_k_index, "
            "top_k_weights)) and no router of a family registered in qnext_lab.families; is this a "
            "Mixture-of-Experts model loaded with transformers >= 5?"
        )
    indices = [layer.index for layer in found]
    if len(set(indices)) != len(indices):  # several MoE stacks (e.g. encoder + decoder): number them in order
        found = [dataclasses.replace(m, index=i) for i, m in enumerate(found)]
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
