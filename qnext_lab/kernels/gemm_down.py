"""Grouped GEMM 2: down projection, routing-weight scaling, deterministic combine of the k slots.

Dimension legend: T = tokens, H = hidden, I = expert intermediate, k = experts per token,
S = T*k slots (slot s = token s // k, rank s % k), E = experts.

    y[s]   = w[s] * (h[s] @ W2[e(s)].T + b2[e(s)])      # (S, H) fp32, one row per slot
    out[t] = sum_{j < k} y[t * k + j]                    # (T, H), fp32 sum in rank order, then cast

No atomics: each slot's row is written once by the GEMM, and a second small kernel sums the k rows of
a token in a fixed order, so the result is bitwise reproducible (``index_add_``/atomicAdd orders vary).
Knows nothing about transformers.

    out = down_combine(h, weights, align, topk_weights, out_dtype=torch.bfloat16)   # Triton
    out_ref = down_reference(h, weights, topk_ids, topk_weights)                     # pure torch
"""

import torch

from .align import AlignResult
from .grouped import bias_args, block_rows, expert_products, launch, launch_config, load_bias, load_tile, store_tile
from .layout import ExpertWeights
from .triton_lang import tl, triton
from .tuning import GemmConfig

__all__ = ["combine_reference", "down_combine", "down_reference"]


def down_reference(
    h: torch.Tensor,
    weights: ExpertWeights,
    topk_ids: torch.Tensor,
    topk_weights: torch.Tensor,
    out_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Pure torch, fp32 math: (S, I) activations -> (T, H) weighted sum over each token's k experts."""
    num_tokens, top_k = topk_ids.shape
    y = torch.empty(topk_ids.numel(), weights.hidden_size, dtype=torch.float32, device=h.device)  # (S, H)
    for slots, rows in expert_products(h, topk_ids, weights.down_matrix, weights.down_bias, by_token=False):
        y[slots] = rows  # (c, H)
    y = y * topk_weights.reshape(-1, 1).float()
    return combine_reference(y, num_tokens, top_k).to(out_dtype or h.dtype)


def combine_reference(y: torch.Tensor, num_tokens: int, top_k: int) -> torch.Tensor:
    """(S, H) weighted slot rows -> (T, H) fp32, summed in rank order."""
    return y.float().view(num_tokens, top_k, -1).sum(dim=1)


@triton.jit
def _down_kernel(
    # pointers
    h_ptr,  # (S, I) activations from GEMM 1, slot order
    w_ptr,  # W2 seen as [e, n, k] through strides (n in 0..H, k in 0..I)
    b_ptr,  # (E, H) bias, unused unless HAS_BIAS
    topk_w_ptr,  # (S,) routing weights (contiguous (T, k))
    y_ptr,  # (S, H) fp32 out
    sorted_ids_ptr,
    expert_ids_ptr,
    num_padded_ptr,
    # sizes
    num_slots,
    hidden_size,
    inter_size,
    # strides
    stride_hs,
    stride_hi,
    stride_we,
    stride_wn,
    stride_wk,
    stride_be,
    stride_bn,
    stride_ys,
    stride_yh,
    # meta-parameters
    HAS_BIAS: tl.constexpr,
    INPUT_PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    if pid_m * BLOCK_M >= tl.load(num_padded_ptr):
        return
    expert, slots, row_ok = block_rows(pid_m, sorted_ids_ptr, expert_ids_ptr, num_slots, BLOCK_M)
    slots64 = slots.to(tl.int64)  # S*H passes 2^31 at long prefills
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    col_ok = offs_n < hidden_size
    w_base = w_ptr + expert * stride_we

    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, inter_size, BLOCK_K):
        offs_k = k0 + tl.arange(0, BLOCK_K)
        k_ok = offs_k < inter_size
        a = load_tile(h_ptr, slots64, offs_k, stride_hs, stride_hi, row_ok, k_ok)  # (BM, BK)
        w = load_tile(w_base, offs_k, offs_n, stride_wk, stride_wn, k_ok, col_ok)  # (BK, BN)
        acc = tl.dot(a, w, acc, input_precision=INPUT_PRECISION)

    if HAS_BIAS:
        acc += load_bias(b_ptr + expert * stride_be, offs_n, stride_bn, col_ok)
    route_w = tl.load(topk_w_ptr + slots64, mask=row_ok, other=0.0).to(tl.float32)  # (BM,)
    acc = acc * route_w[:, None]
    store_tile(y_ptr, slots64, offs_n, stride_ys, stride_yh, row_ok, col_ok, acc)


@triton.jit
def _combine_kernel(
    y_ptr,  # (S, H) fp32, contiguous
    out_ptr,  # (T, H)
    hidden_size,
    stride_ot,
    TOP_K: tl.constexpr,
    BLOCK_H: tl.constexpr,
):
    token = tl.program_id(0).to(tl.int64)
    offs_h = tl.program_id(1) * BLOCK_H + tl.arange(0, BLOCK_H)
    mask = offs_h < hidden_size
    acc = tl.zeros((BLOCK_H,), dtype=tl.float32)
    for j in tl.static_range(TOP_K):  # fixed rank order: deterministic
        acc += tl.load(y_ptr + (token * TOP_K + j) * hidden_size + offs_h, mask=mask, other=0.0)
    tl.store(out_ptr + token * stride_ot + offs_h, acc.to(out_ptr.dtype.element_ty), mask=mask)


def down_combine(
    h: torch.Tensor,
    weights: ExpertWeights,
    align: AlignResult,
    topk_weights: torch.Tensor,
    *,
    out_dtype: torch.dtype | None = None,
    config: GemmConfig | None = None,
) -> torch.Tensor:
    """Triton grouped GEMM 2 + combine: (S, I) activations -> (T, H) in ``out_dtype`` (default h.dtype)."""
    if h.dim() != 2 or h.shape != (align.num_slots, weights.intermediate_size):
        raise ValueError(f"h must be (S={align.num_slots}, I={weights.intermediate_size}), got {tuple(h.shape)}")
    if h.dtype != weights.dtype:
        raise TypeError(f"h is {h.dtype} but the expert weights are {weights.dtype}")
    if topk_weights.dim() != 2 or topk_weights.numel() != align.num_slots:
        raise ValueError(f"topk_weights must be (T, k) with T*k = {align.num_slots}, got {tuple(topk_weights.shape)}")
    num_tokens, top_k = topk_weights.shape
    hidden = weights.hidden_size
    out = torch.empty(num_tokens, hidden, dtype=out_dtype or h.dtype, device=h.device)  # (T, H)
    if align.num_slots == 0:
        return out.zero_()
    topk_w = topk_weights.contiguous()
    y = torch.empty(align.num_slots, hidden, dtype=torch.float32, device=h.device)  # (S, H)
    cfg = launch_config(config, align, num_experts=weights.num_experts, n=hidden, k=weights.intermediate_size)
    bias, stride_be, stride_bn = bias_args(weights.down_bias, h)
    args = (h, weights.down, bias, topk_w, y, align.sorted_ids, align.expert_ids, align.num_padded)  # pointers
    args += (align.num_slots, hidden, weights.intermediate_size)  # sizes
    args += (*h.stride(), *weights.down_strides(), stride_be, stride_bn, *y.stride())  # strides
    launch(_down_kernel, align, cfg, n=hidden, dtype=h.dtype, args=args, HAS_BIAS=weights.down_bias is not None)
    block_h = min(1024, triton.next_power_of_2(hidden))
    _combine_kernel[(num_tokens, triton.cdiv(hidden, block_h))](
        y, out, hidden, out.stride(0), TOP_K=top_k, BLOCK_H=block_h
    )
    return out
