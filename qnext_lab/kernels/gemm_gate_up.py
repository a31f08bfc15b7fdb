"""Grouped GEMM 1: gather token rows, multiply by each expert's gate_up weight, fuse the gate.

Dimension legend: T = tokens, H = hidden, I = expert intermediate, k = experts per token,
S = T*k slots (slot s belongs to token s // k), E = experts, BM/BN/BK = tile sizes.

    h[s] = gate_fn(x[s // k] @ W1[e(s)].T + b1[e(s)])          # (S, I), rows in slot order

``gate_fn`` is ``silu(gate) * up`` (Qwen, Mixtral, OLMoE, DeepSeek) or GPT-OSS's clamped SwiGLU
``(clamp(up, -l, l) + 1) * g * sigmoid(alpha * g)`` with ``g = clamp(gate, max=l)``. The kernel reads
blocks of rows from an ``AlignResult`` (one expert per block), so each expert's weight tile is loaded
once per block; token rows are gathered on the fly (no (S, H) copy). Knows nothing about transformers.

    h = gate_up(x, weights, align, top_k=k)            # Triton
    h_ref = gate_up_reference(x, weights, topk_ids)    # pure torch
"""

import torch
import torch.nn.functional as F

from .align import AlignResult
from .grouped import bias_args, block_rows, expert_products, launch, launch_config, load_bias, load_tile, store_tile
from .layout import ExpertWeights
from .triton_lang import tl, triton
from .tuning import GemmConfig

__all__ = ["GATES", "apply_gate_reference", "gate_up", "gate_up_reference"]

GATES = ("silu", "clamped_swiglu")


def apply_gate_reference(
    gate_up_out: torch.Tensor, weights: ExpertWeights, gate: str = "silu", alpha: float = 1.702, limit: float = 7.0
) -> torch.Tensor:
    """(..., 2I) pre-activations -> (..., I), in the precision of the input."""
    g, u = weights.split_gate_up(gate_up_out)
    if gate == "silu":
        return F.silu(g) * u
    if gate == "clamped_swiglu":
        g = g.clamp(max=limit)
        u = u.clamp(min=-limit, max=limit)
        return (u + 1) * (g * torch.sigmoid(g * alpha))
    raise ValueError(f"unknown gate {gate!r}; choose one of {GATES}")


def gate_up_reference(
    x: torch.Tensor,
    weights: ExpertWeights,
    topk_ids: torch.Tensor,
    *,
    gate: str = "silu",
    alpha: float = 1.702,
    limit: float = 7.0,
) -> torch.Tensor:
    """Pure torch, fp32 math: (T, H) tokens, (T, k) ids -> (S, I) gated activations in x.dtype."""
    out = torch.empty(topk_ids.numel(), weights.intermediate_size, dtype=x.dtype, device=x.device)  # (S, I)
    for slots, pre in expert_products(x, topk_ids, weights.gate_up_matrix, weights.gate_up_bias, by_token=True):
        out[slots] = apply_gate_reference(pre, weights, gate, alpha, limit).to(x.dtype)  # pre: (c, 2I)
    return out


@triton.jit
def _gate_up_kernel(
    # pointers
    x_ptr,  # (T, H) tokens
    w_ptr,  # W1 seen as [e, n, k] through strides (n in 0..2I, k in 0..H)
    b_ptr,  # (E, 2I) bias, unused unless HAS_BIAS
    out_ptr,  # (S, I) gated activations, slot order
    sorted_ids_ptr,
    expert_ids_ptr,
    num_padded_ptr,  # the AlignResult
    # sizes
    num_slots,
    inter_size,
    hidden_size,
    top_k,
    # strides
    stride_xt,
    stride_xh,
    stride_we,
    stride_wn,
    stride_wk,
    stride_be,
    stride_bn,
    stride_os,
    stride_oi,
    # layout: gate column of output j is j * gate_step, up column is j * gate_step + up_offset
    gate_step,
    up_offset,
    alpha,
    limit,
    # meta-parameters
    GATE: tl.constexpr,  # 0: silu(gate) * up, 1: GPT-OSS clamped SwiGLU
    HAS_BIAS: tl.constexpr,
    INPUT_PRECISION: tl.constexpr,  # "ieee" for fp32 parity (no tf32), ignored for 16-bit inputs
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    # The grid is sized for the worst routing; blocks past the padded end have nothing to do.
    if pid_m * BLOCK_M >= tl.load(num_padded_ptr):
        return
    expert, slots, row_ok = block_rows(pid_m, sorted_ids_ptr, expert_ids_ptr, num_slots, BLOCK_M)
    tokens = (slots // top_k).to(tl.int64)  # int64 offsets: T*k*H passes 2^31 at long prefills
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    col_ok = offs_n < inter_size
    gate_cols = offs_n * gate_step
    up_cols = gate_cols + up_offset
    w_base = w_ptr + expert * stride_we

    acc_gate = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    acc_up = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, hidden_size, BLOCK_K):
        offs_k = k0 + tl.arange(0, BLOCK_K)
        k_ok = offs_k < hidden_size
        a = load_tile(x_ptr, tokens, offs_k, stride_xt, stride_xh, row_ok, k_ok)  # (BM, BK)
        wg = load_tile(w_base, offs_k, gate_cols, stride_wk, stride_wn, k_ok, col_ok)  # (BK, BN)
        wu = load_tile(w_base, offs_k, up_cols, stride_wk, stride_wn, k_ok, col_ok)
        acc_gate = tl.dot(a, wg, acc_gate, input_precision=INPUT_PRECISION)  # (BM, BN)
        acc_up = tl.dot(a, wu, acc_up, input_precision=INPUT_PRECISION)

    if HAS_BIAS:
        b_base = b_ptr + expert * stride_be
        acc_gate += load_bias(b_base, gate_cols, stride_bn, col_ok)
        acc_up += load_bias(b_base, up_cols, stride_bn, col_ok)
    if GATE == 0:
        h = acc_gate * tl.sigmoid(acc_gate) * acc_up
    else:
        g = tl.minimum(acc_gate, limit)
        u = tl.minimum(tl.maximum(acc_up, -limit), limit)
        h = (u + 1.0) * (g * tl.sigmoid(g * alpha))
    store_tile(out_ptr, slots.to(tl.int64), offs_n, stride_os, stride_oi, row_ok, col_ok, h)


def gate_up(
    x: torch.Tensor,
    weights: ExpertWeights,
    align: AlignResult,
    top_k: int,
    *,
    gate: str = "silu",
    alpha: float = 1.702,
    limit: float = 7.0,
    config: GemmConfig | None = None,
) -> torch.Tensor:
    """Triton grouped GEMM 1: (T, H) tokens -> (S, I) gated activations (x.dtype, slot order)."""
    if x.dim() != 2 or x.shape[1] != weights.hidden_size:
        raise ValueError(f"x must be (T, H={weights.hidden_size}), got {tuple(x.shape)}")
    if x.dtype != weights.dtype:
        raise TypeError(f"x is {x.dtype} but the expert weights are {weights.dtype}; cast one of them")
    if gate not in GATES:
        raise ValueError(f"unknown gate {gate!r}; choose one of {GATES}")
    if align.num_slots != x.shape[0] * top_k:
        raise ValueError(f"alignment covers {align.num_slots} slots but x has {x.shape[0]} tokens x top_k={top_k}")
    inter = weights.intermediate_size
    out = torch.empty(align.num_slots, inter, dtype=x.dtype, device=x.device)  # (S, I)
    if align.num_slots == 0:
        return out
    cfg = launch_config(config, align, num_experts=weights.num_experts, n=inter, k=weights.hidden_size)
    bias, stride_be, stride_bn = bias_args(weights.gate_up_bias, x)
    gate_step, up_offset = (2, 1) if weights.interleaved else (1, inter)
    args = (x, weights.gate_up, bias, out, align.sorted_ids, align.expert_ids, align.num_padded)  # pointers
    args += (align.num_slots, inter, weights.hidden_size, top_k)  # sizes
    args += (*x.stride(), *weights.gate_up_strides(), stride_be, stride_bn, *out.stride())  # strides
    args += (gate_step, up_offset, float(alpha), float(limit))
    launch(
        _gate_up_kernel,
        align,
        cfg,
        n=inter,
        dtype=x.dtype,
        args=args,
        GATE=GATES.index(gate),
        HAS_BIAS=weights.gate_up_bias is not None,
    )
    return out
