"""intervene(): change a model's routing inside a ``with`` block (ablate experts, force experts, change k).

A forward hook on each router rewrites its ``(router_logits, top_k_weights, top_k_index)`` output: the
top-k is chosen again from the router's own scores with ablated experts set to -inf and forced experts to
+inf, with the new k, and the weights are recomputed the way that router family computes them
(softmax probabilities, renormalised over the chosen experts when the router does so; DeepSeek-V3 sigmoid
scores with its group-limited choice, normalisation and scaling). The experts module receives these ids
and weights, so the change reaches the output, and ``capture`` (whose experts pre-hook sees them) records
it. ``router_logits`` are left as the router computed them, so captured ``probs`` (and ``selection_scores``)
show what the router wanted. Hooks are removed on exit, also on error. Knows nothing about figures or widgets.

It lives in ``trace/`` beside ``capture`` because both hook the routing (one reads it, this one changes it)
and share ``moe_layers``, ``hooks`` and ``lock``. Threads: the block holds the model's lock (another
thread's ``generate``/``capture``/``intervene`` on the model waits), and the rewrite applies only to the
forwards of the thread that opened the block; a forward another thread runs without the lock routes as
usual. Blocks do not nest on one model (combine the changes in one ``intervene``).

    with qnext_lab.intervene(model, ablate={3: [5, 7]}, force={0: [1]}, top_k=4):
        out = model.generate(**batch)

Dimension legend: T = tokens, E = experts, k = experts per token after the intervention.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping
from types import TracebackType

import torch
from torch import nn

from ..checks import as_int
from .blocks import ModelBlock
from .hooks import ThreadHooks
from .moe_layers import MoELayer, find_moe_layers, router_rule

# router -> the intervene block rewriting it; read and written only while holding the model's lock
_ACTIVE: weakref.WeakKeyDictionary[nn.Module, intervene] = weakref.WeakKeyDictionary()


def _expert_ids(name: str, layer: int, experts: object, E: int) -> list[int]:
    if isinstance(experts, (str, bytes)):
        raise TypeError(f"{name}: experts of layer {layer} must be integers, got the string {experts!r}")
    try:
        ids = [as_int(experts, f"{name}: expert of layer {layer}")]
    except TypeError:
        if not isinstance(experts, Iterable):
            raise TypeError(
                f"{name}: experts of layer {layer} must be an integer or a list of them, got {experts!r}"
            ) from None
        ids = [as_int(e, f"{name}: expert of layer {layer}") for e in experts]
    for e in ids:
        if not 0 <= e < E:
            raise ValueError(f"{name}: expert {e} out of range for layer {layer} (experts 0..{E - 1})")
    return sorted(set(ids))


def _expert_sets(
    name: str, spec: Mapping[int, Iterable[int]] | None, layers: dict[int, MoELayer]
) -> dict[int, list[int]]:
    if spec is None:
        return {}
    if not isinstance(spec, Mapping):
        raise TypeError(f"{name} must be a dict {{layer: [experts]}}, got {type(spec).__name__}")
    out: dict[int, list[int]] = {}
    for key, experts in spec.items():
        layer = as_int(key, f"{name}: layer key")
        if layer not in layers:
            raise ValueError(f"{name}: layer {layer} is not an MoE layer of this model; MoE layers: {sorted(layers)}")
        ids = _expert_ids(name, layer, experts, layers[layer].num_experts)
        out[layer] = sorted(set(out.get(layer, [])) | set(ids))  # np.int64(3) and 3 name the same layer
    return out


class intervene(ModelBlock):  # used as a function: `with intervene(model, ...):`
    """Context manager changing routing: ``ablate`` / ``force`` map decoder-layer index -> expert ids (one id
    or a list; numpy / torch integers too); ``top_k`` sets the experts per token in every MoE layer (default:
    the model's own k). ``timeout``: seconds to wait for another thread that holds the model (``None``: as
    long as it takes), then ``ModelBusyError``. The lock, the hooks and the block's life: ``blocks.ModelBlock``."""

    WHAT = "intervene"

    def __init__(
        self,
        model: nn.Module,
        ablate: Mapping[int, Iterable[int]] | None = None,
        force: Mapping[int, Iterable[int]] | None = None,
        top_k: int | None = None,
        *,
        timeout: float | None = None,
    ) -> None:
        layers = {layer.index: layer for layer in find_moe_layers(model)}
        for layer in layers.values():
            if layer.router is None:
                raise ValueError(f"no router module (.gate / .router) next to {layer.path}: cannot intervene")
            if layer.from_router or _router_kind(layer.router) is None:
                rule = layer.rule
                raise ValueError(
                    f"intervene cannot redo {type(layer.router).__name__}'s choice "
                    f"({rule.describe() if rule is not None else 'rule unknown'}); it supports the routers whose "
                    "rule the family registry can recompute (softmax top-k: Qwen2/3-MoE, Qwen3-Next, Qwen3.5, "
                    "Mixtral, OLMoE, GPT-OSS; sigmoid + bias + groups: DeepSeek-V3 and its kin); see docs/families.md"
                )
        self.ablate = _expert_sets("ablate", ablate, layers)
        self.force = _expert_sets("force", force, layers)
        if top_k is not None:
            top_k = as_int(top_k, "top_k")
        for index, layer in layers.items():
            E = layer.num_experts
            k = top_k if top_k is not None else int(layer.router.top_k)
            if not 1 <= k <= E:
                raise ValueError(f"top_k={k} is impossible with {E} experts (layer {index}); use 1..{E}")
            ablated, forced = self.ablate.get(index, []), self.force.get(index, [])
            if len(ablated) == E:
                raise ValueError(f"ablating every expert of layer {index} leaves nothing to route to")
            if E - len(ablated) < k:
                raise ValueError(
                    f"layer {index}: {len(ablated)} of {E} experts ablated leaves fewer than top_k={k}; "
                    f"ablate fewer experts or lower top_k"
                )
            if len(forced) > k:
                raise ValueError(f"layer {index}: {len(forced)} forced experts do not fit in top_k={k}")
            both = set(ablated) & set(forced)
            if both:
                raise ValueError(f"layer {index}: experts {sorted(both)} are both ablated and forced")
        self.model = model
        self.top_k = top_k
        self.timeout = timeout
        self.layers = layers

    def __enter__(self) -> intervene:
        self._open()  # from here on, only this thread reads or changes _ACTIVE for these routers
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._close()

    # ------------------------------------------------------------------ the block (blocks.ModelBlock)
    def _refuse(self) -> None:
        if any(layer.router in _ACTIVE for layer in self.layers.values()):
            raise RuntimeError(
                "intervene() blocks cannot be nested on the same model; combine the changes in one intervene(...)"
            )

    def _install(self, hooks: ThreadHooks) -> None:
        for index, layer in self.layers.items():
            k = self.top_k if self.top_k is not None else int(layer.router.top_k)
            shift = torch.zeros(layer.num_experts)  # (E,) added to the choice scores
            shift[self.ablate.get(index, [])] = float("-inf")
            shift[self.force.get(index, [])] = float("inf")
            _ACTIVE[layer.router] = self
            hooks.post(layer.router, _rewrite_hook(layer.router, k, shift))

    def _reset(self) -> None:
        """Drop this block's marks (only its own: a refused nested block leaves the outer one intact)."""
        for layer in getattr(self, "layers", {}).values():
            if _ACTIVE.get(layer.router) is self:
                del _ACTIVE[layer.router]


def _router_kind(router: nn.Module) -> str | None:
    """``"deepseek"`` (sigmoid + selection bias + groups), ``"softmax"`` or None: from the registry's rule."""
    rule = router_rule(router)
    if rule is None or not rule.recompute or not hasattr(router, "top_k"):
        return None
    if rule.group_limited:
        return "deepseek" if all(hasattr(router, a) for a in ("e_score_correction_bias", "num_group")) else None
    return "softmax"


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
