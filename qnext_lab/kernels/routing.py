"""Routing: softmax over the router logits, top-k, optional renormalisation.

Dimension legend: T = tokens, E = experts, k = experts per token.
Gives int32 expert ids (rank order, rank 0 = largest probability) and fp32 weights. Ties: the lower
expert index wins, which is ``torch.sort(descending=True, stable=True)`` order and the set CUDA's
``torch.topk`` selects. (``torch.topk`` on CPU leaves the order of equal values unspecified: on
``[1, 2, 2, 2, 0, 2]`` it picks indices 3, 5, 2.) Knows nothing about transformers.

    weights, ids = route(router_logits, top_k=10, renormalize=True)   # (T, k) fp32, (T, k) int32
    weights_ref, ids_ref = route_reference(router_logits, 10)
"""

import torch

from .backend import resolve_backend
from .triton_lang import tl, triton

__all__ = ["route", "route_reference"]


def _check(logits: torch.Tensor, top_k: int) -> None:
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"router logits must be a torch.Tensor, got {type(logits).__name__}")
    if logits.dim() != 2:
        raise ValueError(f"router logits must be 2-D (tokens, experts), got shape {tuple(logits.shape)}")
    if not logits.is_floating_point():
        raise TypeError(f"router logits must be floating point, got {logits.dtype}")
    if not isinstance(top_k, int) or not 1 <= top_k <= logits.shape[1]:
        raise ValueError(f"top_k must be an int in [1, {logits.shape[1]}] (the number of experts), got {top_k!r}")


def route_reference(logits: torch.Tensor, top_k: int, renormalize: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Pure-torch routing: fp32 softmax, stable top-k (lower index wins ties), optional renorm."""
    _check(logits, top_k)
    probs = torch.softmax(logits.float(), dim=-1)  # (T, E) fp32
    # A stable descending sort, not torch.topk: its tie order on CPU is unspecified.
    values, ids = torch.sort(probs, dim=-1, descending=True, stable=True)
    weights, ids = values[:, :top_k], ids[:, :top_k]  # (T, k)
    if renormalize:
        weights = weights / weights.sum(dim=-1, keepdim=True)
    return weights.contiguous(), ids.to(torch.int32).contiguous()


@triton.jit
def _routing_kernel(
    # pointers
    logits_ptr,  # (T, E) any float dtype
    weights_ptr,  # (T, k) fp32 out
    ids_ptr,  # (T, k) int32 out
    # sizes and strides
    num_tokens,
    num_experts,
    stride_lt,
    stride_le,
    # meta-parameters
    TOP_K: tl.constexpr,
    RENORMALIZE: tl.constexpr,
    BLOCK_T: tl.constexpr,  # tokens per program: several rows per program when E is small
    BLOCK_E: tl.constexpr,  # next power of two >= E: a program holds whole rows
    BLOCK_K: tl.constexpr,  # next power of two >= k
):
    tokens = tl.program_id(0) * BLOCK_T + tl.arange(0, BLOCK_T)
    token_ok = tokens < num_tokens
    tokens64 = tokens.to(tl.int64)
    offs_e = tl.arange(0, BLOCK_E)
    valid = token_ok[:, None] & (offs_e < num_experts)[None, :]  # (BT, BE)
    x = tl.load(
        logits_ptr + tokens64[:, None] * stride_lt + offs_e[None, :] * stride_le, mask=valid, other=-float("inf")
    ).to(tl.float32)
    x = tl.where(token_ok[:, None], x, 0.0)  # padding rows: finite, so no NaN from inf - inf
    p = tl.exp(x - tl.max(x, axis=1)[:, None])
    p = tl.where(valid, p, 0.0)
    p = p / tl.maximum(tl.sum(p, axis=1), 1e-30)[:, None]  # (BT, BE) softmax
    # Top-k by k rounds of argmax: k <= ~16 in every MoE we know, so this beats sorting E values.
    remaining = tl.where(valid, p, -1.0)
    offs_k = tl.arange(0, BLOCK_K)
    top_w = tl.zeros((BLOCK_T, BLOCK_K), dtype=tl.float32)
    top_i = tl.zeros((BLOCK_T, BLOCK_K), dtype=tl.int32)
    for j in tl.static_range(TOP_K):
        best = tl.argmax(remaining, axis=1, tie_break_left=True)  # (BT,) lower index wins ties
        best_p = tl.max(remaining, axis=1)
        top_w = tl.where(offs_k[None, :] == j, best_p[:, None], top_w)
        top_i = tl.where(offs_k[None, :] == j, best.to(tl.int32)[:, None], top_i)
        remaining = tl.where(offs_e[None, :] == best[:, None], -2.0, remaining)
    if RENORMALIZE:
        top_w = top_w / tl.maximum(tl.sum(top_w, axis=1), 1e-30)[:, None]  # unused lanes hold 0
    out_off = tokens64[:, None] * TOP_K + offs_k[None, :]
    out_mask = token_ok[:, None] & (offs_k < TOP_K)[None, :]
    tl.store(weights_ptr + out_off, top_w, mask=out_mask)
    tl.store(ids_ptr + out_off, top_i, mask=out_mask)


def route(
    logits: torch.Tensor, top_k: int, renormalize: bool = True, *, backend: str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax -> top-k -> optional renorm. Returns ``(weights (T, k) fp32, ids (T, k) int32)``.

    ``backend``: "auto" | "triton" | "torch" (default: ``QNEXT_LAB_BACKEND``, else auto).
    """
    _check(logits, top_k)
    if resolve_backend(logits, backend) == "torch":
        return route_reference(logits, top_k, renormalize)
    num_tokens, num_experts = logits.shape
    weights = torch.empty(num_tokens, top_k, dtype=torch.float32, device=logits.device)
    ids = torch.empty(num_tokens, top_k, dtype=torch.int32, device=logits.device)
    if num_tokens == 0:
        return weights, ids
    block_e = triton.next_power_of_2(num_experts)
    # About 4K logits per program: one row of a 512-expert router, 64 rows of an 8-expert one.
    block_t = max(1, min(4096 // block_e, triton.next_power_of_2(num_tokens)))
    _routing_kernel[(triton.cdiv(num_tokens, block_t),)](
        logits,
        weights,
        ids,
        num_tokens,
        num_experts,
        logits.stride(0),
        logits.stride(1),
        TOP_K=top_k,
        RENORMALIZE=renormalize,
        BLOCK_T=block_t,
        BLOCK_E=block_e,
        BLOCK_K=triton.next_power_of_2(top_k),
        num_warps=4 if block_e <= 1024 else 8,
    )
    return weights, ids
