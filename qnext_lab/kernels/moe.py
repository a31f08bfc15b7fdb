"""A whole MoE forward from router logits: routing -> alignment -> GEMM 1 -> GEMM 2 + combine.

Dimension legend: T = tokens, H = hidden, I = expert intermediate, E = experts, k = experts per token,
S = T*k slots, P = padded rows.
Returns the intermediate results too (routing, the alignment with its padding), so notebook
"06_inside_the_kernel" can draw how tokens are grouped into blocks. Knows nothing about transformers.

    res = moe_forward(x, router_logits, ExpertWeights(w1, w2), top_k=2)
    res.output, res.align.sorted_ids, res.align.expert_ids, int(res.align.num_padded)
"""

from dataclasses import dataclass

import torch

from .align import AlignResult, align_block_size, align_reference
from .backend import resolve_backend
from .gemm_down import down_combine, down_reference
from .gemm_gate_up import gate_up, gate_up_reference
from .layout import ExpertWeights
from .routing import route
from .tuning import pick_config

__all__ = ["MoeResult", "moe_experts", "moe_forward"]


@dataclass(frozen=True)
class MoeResult:
    """Output of ``moe_forward`` with every intermediate the kernels produced."""

    output: torch.Tensor  # (T, H)
    topk_weights: torch.Tensor  # (T, k) fp32
    topk_ids: torch.Tensor  # (T, k) int32
    align: AlignResult  # sorted slots, expert per block, padded row count
    intermediate: torch.Tensor  # (S, I) gated activations, slot order
    backend: str  # "triton" or "torch"

    @property
    def padding_fraction(self) -> float:
        """Share of the used rows that are padding (the cost the alignment pays for whole blocks)."""
        padded = int(self.align.num_padded)
        return 1.0 - self.align.num_slots / padded if padded else 0.0


def _check_inputs(x: torch.Tensor, weights: ExpertWeights, topk_ids: torch.Tensor, topk_weights: torch.Tensor) -> None:
    if not isinstance(weights, ExpertWeights):
        raise TypeError(f"weights must be an ExpertWeights, got {type(weights).__name__}")
    if x.dim() != 2 or x.shape[1] != weights.hidden_size:
        raise ValueError(f"x must be (T, H={weights.hidden_size}), got {tuple(x.shape)}")
    if topk_ids.shape != topk_weights.shape or topk_ids.dim() != 2 or topk_ids.shape[0] != x.shape[0]:
        raise ValueError(
            f"topk_ids {tuple(topk_ids.shape)} and topk_weights {tuple(topk_weights.shape)} must both be (T={x.shape[0]}, k)"
        )


def _experts(
    x: torch.Tensor,
    weights: ExpertWeights,
    topk_ids: torch.Tensor,
    topk_weights: torch.Tensor,
    gate: str,
    alpha: float,
    limit: float,
    backend: str | None,
    validate: bool,
    tile_row: int | None = None,
) -> tuple[torch.Tensor, AlignResult, torch.Tensor, str]:
    num_slots = topk_ids.numel()
    cfg = pick_config(num_slots, weights.num_experts, weights.intermediate_size, weights.hidden_size, row=tile_row)
    chosen = resolve_backend(x, backend)
    if chosen == "torch":
        align = align_reference(topk_ids, weights.num_experts, cfg.block_m)
        h = gate_up_reference(x, weights, topk_ids, gate=gate, alpha=alpha, limit=limit)  # (S, I)
        return down_reference(h, weights, topk_ids, topk_weights), align, h, chosen
    align = align_block_size(topk_ids, weights.num_experts, cfg.block_m, backend="triton", validate=validate)
    h = gate_up(x.contiguous(), weights, align, topk_ids.shape[1], gate=gate, alpha=alpha, limit=limit, config=cfg)
    cfg2 = pick_config(num_slots, weights.num_experts, weights.hidden_size, weights.intermediate_size, row=tile_row)
    out = down_combine(h, weights, align, topk_weights, out_dtype=x.dtype, config=cfg2)  # (T, H)
    return out, align, h, chosen


def moe_experts(
    x: torch.Tensor,
    weights: ExpertWeights,
    topk_ids: torch.Tensor,
    topk_weights: torch.Tensor,
    *,
    gate: str = "silu",
    alpha: float = 1.702,
    limit: float = 7.0,
    backend: str | None = None,
    validate: bool = True,
    tile_row: int | None = None,
) -> torch.Tensor:
    """Experts only (routing done elsewhere): (T, H) tokens, (T, k) ids and weights -> (T, H).

    ``tile_row`` forces a row of the tuning table for both GEMMs (the self-check runs every row).
    """
    _check_inputs(x, weights, topk_ids, topk_weights)
    return _experts(x, weights, topk_ids, topk_weights, gate, alpha, limit, backend, validate, tile_row)[0]


def moe_forward(
    x: torch.Tensor,
    router_logits: torch.Tensor,
    weights: ExpertWeights,
    top_k: int,
    *,
    renormalize: bool = True,
    gate: str = "silu",
    backend: str | None = None,
) -> MoeResult:
    """Route with softmax/top-k, then run the experts; returns the output and every intermediate."""
    if router_logits.dim() != 2 or router_logits.shape != (x.shape[0], weights.num_experts):
        raise ValueError(
            f"router_logits must be (T={x.shape[0]}, E={weights.num_experts}), got {tuple(router_logits.shape)}"
        )
    topk_weights, topk_ids = route(router_logits, top_k, renormalize, backend=backend)
    _check_inputs(x, weights, topk_ids, topk_weights)
    out, align, h, chosen = _experts(x, weights, topk_ids, topk_weights, gate, 1.702, 7.0, backend, False)
    return MoeResult(out, topk_weights, topk_ids, align, h, chosen)
