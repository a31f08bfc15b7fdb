"""intervene(): change a model's routing inside a ``with`` block (ablate experts, force experts, change k).

A forward hook on each router rewrites its ``(router_logits, top_k_weights, top_k_index)`` output: the
top-k is chosen again from the router's own scores with ablated experts set to -inf and forced experts to
+inf, with the new k, and the weights are recomputed the way that router family computes them
(softmax probabilities, renormalised over the chosen experts when the router does so; DeepSeek-V3 sigmoid
scores with its group-limited choice, normalisation and scaling). The experts module receives these ids
and weights, so the change reaches the output, and ``capture`` (whose experts pre-hook sees them) records
it. ``router_logits`` are left as the router computed them, so captured ``probs`` show what the router
wanted. Hooks are removed on exit, also on error. Knows nothing about figures or widgets.

    with qnext_lab.intervene(model, ablate={3: [5, 7]}, force={0: [1]}, top_k=4):
        out = model.generate(**batch)

Dimension legend: T = tokens, E = experts, k = experts per token after the intervention.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import TracebackType

import torch
from torch import nn

from ..trace.moe_layers import MoELayer, find_moe_layers, router_probs_kind

_MARK = "_qnext_lab_intervened"


def _expert_sets(name: str, spec: Mapping[int, Iterable[int]] | None, layers: dict[int, MoELayer]) -> dict[int, list[int]]:
    if spec is None:
        return {}
    if not isinstance(spec, Mapping):
        raise TypeError(f"{name} must be a dict {{layer: [experts]}}, got {type(spec).__name__}")
    out: dict[int, list[int]] = {}
    for layer, experts in spec.items():
        if isinstance(layer, bool) or not isinstance(layer, int):
            raise TypeError(f"{name}: layer keys must be ints, got {layer!r}")
        if layer not in layers:
            raise ValueError(f"{name}: layer {layer} is not an MoE layer of this model; MoE layers: {sorted(layers)}")
        experts = [experts] if isinstance(experts, int) else list(experts)
        E = layers[layer].num_experts
        for e in experts:
            if isinstance(e, bool) or not isinstance(e, int):
                raise TypeError(f"{name}: experts must be ints, got {e!r} for layer {layer}")
            if not 0 <= e < E:
                raise ValueError(f"{name}: expert {e} out of range for layer {layer} (experts 0..{E - 1})")
        out[layer] = sorted(set(experts))
    return out


class intervene:  # noqa: N801 - used as a function: `with intervene(model, ...):`
    """Context manager changing routing: ``ablate`` / ``force`` map decoder-layer index -> expert ids;
    ``top_k`` sets the experts per token in every MoE layer (default: the model's own k)."""

    def __init__(self, model: nn.Module, ablate: Mapping[int, Iterable[int]] | None = None,
                 force: Mapping[int, Iterable[int]] | None = None, top_k: int | None = None) -> None:
        layers = {layer.index: layer for layer in find_moe_layers(model)}
        for layer in layers.values():
            if layer.router is None:
                raise ValueError(f"no router module (.gate / .router) next to {layer.path}: cannot intervene")
            if _router_kind(layer.router) is None:
                raise ValueError(f"don't know how {type(layer.router).__name__} computes its weights; intervene "
                                 "supports Qwen2/3-MoE, Qwen3-Next, Mixtral, OLMoE, GPT-OSS and DeepSeek-V3 routers")
        self.ablate = _expert_sets("ablate", ablate, layers)
        self.force = _expert_sets("force", force, layers)
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int)):
            raise TypeError(f"top_k must be an int or None, got {top_k!r}")
        for index, layer in layers.items():
            E = layer.num_experts
            k = top_k if top_k is not None else int(getattr(layer.router, "top_k"))
            if not 1 <= k <= E:
                raise ValueError(f"top_k={k} is impossible with {E} experts (layer {index}); use 1..{E}")
            ablated, forced = self.ablate.get(index, []), self.force.get(index, [])
            if len(ablated) == E:
                raise ValueError(f"ablating every expert of layer {index} leaves nothing to route to")
            if E - len(ablated) < k:
                raise ValueError(f"layer {index}: {len(ablated)} of {E} experts ablated leaves fewer than top_k={k}; "
                                 f"ablate fewer experts or lower top_k")
            if len(forced) > k:
                raise ValueError(f"layer {index}: {len(forced)} forced experts do not fit in top_k={k}")
            both = set(ablated) & set(forced)
            if both:
                raise ValueError(f"layer {index}: experts {sorted(both)} are both ablated and forced")
        self.model = model
        self.top_k = top_k
        self.layers = layers
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def __enter__(self) -> intervene:
        if self._handles:
            raise RuntimeError("this intervene() is already active")
        try:
            for index, layer in self.layers.items():
                if getattr(layer.router, _MARK, False):
                    raise RuntimeError("intervene() blocks cannot be nested on the same model; "
                                       "combine the changes in one intervene(...)")
                k = self.top_k if self.top_k is not None else int(layer.router.top_k)
                shift = torch.zeros(layer.num_experts)  # (E,) added to the choice scores
                shift[self.ablate.get(index, [])] = float("-inf")
                shift[self.force.get(index, [])] = float("inf")
                self._handles.append(layer.router.register_forward_hook(_rewrite_hook(layer.router, k, shift)))
                setattr(layer.router, _MARK, True)
        except BaseException:
            self._remove()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._remove()

    def _remove(self) -> None:
        while self._handles:
            self._handles.pop().remove()
        for layer in self.layers.values():
            if layer.router is not None and hasattr(layer.router, _MARK):
                delattr(layer.router, _MARK)


def _router_kind(router: nn.Module) -> str | None:
    if hasattr(router, "e_score_correction_bias"):
        return "deepseek"
    return "softmax" if router_probs_kind(router) == "softmax" and hasattr(router, "top_k") else None


def _rewrite_hook(router: nn.Module, k: int, shift: torch.Tensor):
    kind = _router_kind(router)

    def hook(module: nn.Module, args: tuple, output: tuple) -> tuple:
        logits, old_weights, old_index = output[0], output[1], output[2]
        flat = logits.reshape(-1, logits.shape[-1]).float()  # (T, E)
        s = shift.to(flat.device)
        if kind == "deepseek":
            scores = torch.sigmoid(flat)  # (T, E)
            choice = scores + module.e_score_correction_bias.float() + s
            choice = _group_limit(module, choice).masked_fill(torch.isposinf(s), float("inf"))  # forced survive
            index = torch.topk(choice, k, dim=-1, sorted=False)[1]  # (T, k)
            weights = scores.gather(1, index)
            if module.norm_topk_prob:
                weights = weights / (weights.sum(-1, keepdim=True) + 1e-20)
            weights = weights * module.routed_scaling_factor
        else:
            probs = torch.softmax(flat, dim=-1)  # (T, E)
            index = torch.topk(probs + s, k, dim=-1)[1]  # (T, k)
            weights = probs.gather(1, index)
            if getattr(module, "norm_topk_prob", True):  # Mixtral and GPT-OSS always renormalise
                weights = weights / weights.sum(-1, keepdim=True)
        return (logits, weights.to(old_weights.dtype), index.to(old_index.dtype), *output[3:])

    return hook


def _group_limit(router: nn.Module, choice: torch.Tensor) -> torch.Tensor:
    """DeepSeek-V3 group-limited routing: keep the experts of the ``topk_group`` best groups."""
    T, E = choice.shape
    groups = router.num_group
    per_group = choice.view(T, groups, E // groups)  # (T, G, E/G)
    finite = per_group.clamp(-1e30, 1e30)  # forced / ablated count as huge / tiny, without inf - inf
    group_scores = finite.topk(min(2, E // groups), dim=-1)[0].sum(-1)  # (T, G)
    group_idx = torch.topk(group_scores, k=router.topk_group, dim=-1, sorted=False)[1]
    mask = torch.zeros_like(group_scores).scatter_(1, group_idx, 1).bool()  # (T, G)
    return per_group.masked_fill(~mask[:, :, None], float("-inf")).reshape(T, E)
