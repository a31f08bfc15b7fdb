"""The "qnext" experts implementation registered in transformers' ExpertsInterface.

Dimension legend: T = tokens, H = hidden, k = experts per token.
Knows the experts-module contract of transformers v5 (weights ``gate_up_proj`` (E, 2I, H) and
``down_proj`` (E, H, I), or transposed; flags ``has_gate``/``has_bias``/``is_transposed``/
``is_concatenated``/``has_post_expert_norm``; the module's ``_apply_gate``) and maps it onto the kernels.
Backend per call (``QNEXT_LAB_BACKEND``): Triton kernels for CUDA tensors, the torch runtime for CPU.
Under ``auto``, what the Triton kernels cannot do (gradients, ungated experts, post-expert norms, other
custom gates) runs on the torch runtime; under an explicit ``triton`` it raises ``UnsupportedExpertsError``.
Before the Triton path first serves a (device, dtype, weight layout), ``self_check.triton_verified`` compares
it with the torch reference on real weights; a layout that fails runs on the torch runtime (``auto``, one
warning) or raises ``TritonSelfCheckError`` (explicit ``triton``); so does a Triton launch that fails later.
Inside ``torch.compile`` the torch runtime always runs (sync-free, no module-global state read).
Knows nothing about routing capture or widgets.

    import qnext_lab  # registers "qnext"
    model.set_experts_implementation("qnext")
"""

from __future__ import annotations

import torch
from transformers.activations import SiLUActivation
from transformers.integrations.moe import ALL_EXPERTS_FUNCTIONS, _default_apply_gate

from ..families.registry import family_of_module
from ..kernels.backend import requested_backend, resolve_backend
from ..kernels.layout import ExpertWeights
from .experts_module import missing_experts_attributes
from .self_check import report_failure, triton_verified
from .torch_experts import torch_experts_forward

__all__ = [
    "IMPLEMENTATION_NAME",
    "UnsupportedExpertsError",
    "qnext_experts_forward",
    "register_experts_implementation",
    "triton_plan",
]

IMPLEMENTATION_NAME = "qnext"
_CHECKED_ATTRIBUTE = "_qnext_lab_checked"  # set on a module once it passed _check_module (decode is per-µs)


class UnsupportedExpertsError(NotImplementedError):
    """The experts module cannot run on the requested backend; the message says what to do."""


def _check_module(module: torch.nn.Module) -> None:
    """``_validate_module`` once per module (eager only). The mark lives on the module itself, not in a
    module-global set: a compiled graph guards on what it reads, and a global set changes as other models come
    and go (dynamo guards on the former global WeakSet went stale or failed to build)."""
    if not module.__dict__.get(_CHECKED_ATTRIBUTE) or getattr(module, "_is_expert_parallel", False):
        _validate_module(module)
        module.__dict__[_CHECKED_ATTRIBUTE] = True


def _validate_module(module: torch.nn.Module) -> None:
    missing = missing_experts_attributes(module)
    if missing:
        raise UnsupportedExpertsError(
            f"{type(module).__name__} is not a transformers v5 experts module (missing {missing}); "
            "the 'qnext' implementation needs a class decorated with @use_experts_implementation"
        )
    if getattr(module, "_is_expert_parallel", False):
        raise UnsupportedExpertsError(
            f"{type(module).__name__} is sharded with expert parallelism; 'qnext' runs all experts on one "
            "device. Load without a tensor/expert-parallel plan, or use experts_implementation='grouped_mm'"
        )


def triton_plan(module: torch.nn.Module) -> tuple[ExpertWeights, str, float, float]:
    """Map an experts module onto the Triton kernels: (weights, gate, alpha, limit), or raise.

    Raises ``UnsupportedExpertsError`` naming the feature the kernels lack.
    """
    name = type(module).__name__
    if not module.has_gate:
        raise UnsupportedExpertsError(
            f"{name} has no gate (has_gate=False): the Triton kernels fuse a gated "
            "activation only; use QNEXT_LAB_BACKEND=torch"
        )
    if getattr(module, "has_post_expert_norm", False):
        raise UnsupportedExpertsError(
            f"{name} normalises each expert's output (has_post_expert_norm=True), "
            "which the Triton kernels do not fuse; use QNEXT_LAB_BACKEND=torch"
        )
    custom_gate = type(module)._apply_gate is not _default_apply_gate
    family = family_of_module(module)
    if custom_gate and family is not None and family.experts_gate == "clamped_swiglu":
        gate, alpha, limit = "clamped_swiglu", float(module.alpha), float(module.limit)
    elif custom_gate:
        raise UnsupportedExpertsError(
            f"{name} defines its own _apply_gate, which the Triton kernels do not know; use QNEXT_LAB_BACKEND=torch"
        )
    elif isinstance(module.act_fn, (torch.nn.SiLU, SiLUActivation)):
        gate, alpha, limit = "silu", 1.702, 7.0
    else:
        raise UnsupportedExpertsError(
            f"{name} uses activation {type(module.act_fn).__name__}; the Triton "
            "kernels fuse SiLU only; use QNEXT_LAB_BACKEND=torch"
        )
    weights = ExpertWeights(
        gate_up=module.gate_up_proj,
        down=module.down_proj,
        gate_up_bias=module.gate_up_proj_bias if module.has_bias else None,
        down_bias=module.down_proj_bias if module.has_bias else None,
        transposed=bool(module.is_transposed),
        interleaved=not getattr(module, "is_concatenated", True),
    )
    return weights, gate, alpha, limit


def _needs_grad(module: torch.nn.Module, hidden_states: torch.Tensor) -> bool:
    return torch.is_grad_enabled() and (
        hidden_states.requires_grad or any(p.requires_grad for p in module.parameters())
    )


def qnext_experts_forward(
    self: torch.nn.Module,
    hidden_states: torch.Tensor,  # (T, H)
    top_k_index: torch.Tensor,  # (T, k)
    top_k_weights: torch.Tensor,  # (T, k)
) -> torch.Tensor:  # (T, H)
    """ExpertsInterface entry point: route the call to the Triton kernels or the torch runtime.

    Inside ``torch.compile`` the call is traced once into the graph: the module checks run at trace time (on
    the module's own attributes, which the compiler guards like any other), no backend setting, self-check
    verdict or other module-global state is read, and the torch runtime's sync-free formulation runs (the Triton
    chain syncs with the host to size its blocks).
    """
    if torch.compiler.is_compiling():
        _validate_module(self)  # traced once: costs nothing per call
        return torch_experts_forward(self, hidden_states, top_k_index, top_k_weights)
    _check_module(self)
    if resolve_backend(hidden_states) == "torch":
        return torch_experts_forward(self, hidden_states, top_k_index, top_k_weights)
    explicit = requested_backend() == "triton"
    try:
        if _needs_grad(self, hidden_states):
            raise UnsupportedExpertsError(
                "the Triton kernels have no backward pass; run under torch.no_grad() "
                "(inference) or use QNEXT_LAB_BACKEND=torch to train"
            )
        weights, gate, alpha, limit = triton_plan(self)
    except UnsupportedExpertsError:
        if explicit:
            raise
        return torch_experts_forward(self, hidden_states, top_k_index, top_k_weights)
    if not triton_verified(weights, gate, alpha, limit, top_k_index.shape[-1], explicit):  # first use: self-check
        return torch_experts_forward(self, hidden_states, top_k_index, top_k_weights)
    from ..kernels.moe import moe_experts  # imports triton: only where the Triton path runs

    x = hidden_states.to(weights.dtype)  # autocast can hand fp32 activations to bf16 weights
    try:
        out = moe_experts(
            x,
            weights,
            top_k_index,
            top_k_weights,
            gate=gate,
            alpha=alpha,
            limit=limit,
            backend="triton",
            validate=False,
        )
    except Exception as exc:  # a compile or launch failure the check did not foresee: torch from now on
        report_failure(weights, gate, exc, explicit)  # one warning (auto) or TritonSelfCheckError (triton)
        return torch_experts_forward(self, hidden_states, top_k_index, top_k_weights)
    return out.to(hidden_states.dtype)


def register_experts_implementation() -> None:
    """Register ``"qnext"`` in transformers' global ExpertsInterface (idempotent)."""
    ALL_EXPERTS_FUNCTIONS.register(IMPLEMENTATION_NAME, qnext_experts_forward)
