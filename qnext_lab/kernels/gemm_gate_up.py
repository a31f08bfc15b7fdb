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
from .layout import ExpertWeights
from .triton_lang import tl, triton
from .tuning import GemmConfig, pick_config

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
    top_k = topk_ids.shape[1]
    flat = topk_ids.reshape(-1).long()  # (S,)
    out = torch.empty(flat.numel(), weights.intermediate_size, dtype=x.dtype, device=x.device)
    for expert in torch.unique(flat).tolist():  # active experts only
        slots = torch.nonzero(flat == expert).squeeze(1)  # (c,)
        pre = x[slots // top_k].float() @ weights.gate_up_matrix(expert).float().T  # (c, 2I)
        if weights.gate_up_bias is not None:
            pre = pre + weights.gate_up_bias[expert].float()
        out[slots] = apply_gate_reference(pre, weights, gate, alpha, limit).to(x.dtype)
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
    expert = tl.load(expert_ids_ptr + pid_m).to(tl.int64)  # int64: e * stride_we passes 2^31 at E=512, H=2048
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    slots = tl.load(sorted_ids_ptr + offs_m)
    row_ok = slots < num_slots
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
        a = tl.load(
            x_ptr + tokens[:, None] * stride_xt + offs_k[None, :] * stride_xh,
            mask=row_ok[:, None] & k_ok[None, :],
            other=0.0,
        )  # (BM, BK)
        w_mask = k_ok[:, None] & col_ok[None, :]
        wg = tl.load(w_base + gate_cols[None, :] * stride_wn + offs_k[:, None] * stride_wk, mask=w_mask, other=0.0)
        wu = tl.load(w_base + up_cols[None, :] * stride_wn + offs_k[:, None] * stride_wk, mask=w_mask, other=0.0)
        acc_gate = tl.dot(a, wg, acc_gate, input_precision=INPUT_PRECISION)  # (BM, BN)
        acc_up = tl.dot(a, wu, acc_up, input_precision=INPUT_PRECISION)

    if HAS_BIAS:
        b_base = b_ptr + expert * stride_be
        acc_gate += tl.load(b_base + gate_cols * stride_bn, mask=col_ok, other=0.0).to(tl.float32)[None, :]
        acc_up += tl.load(b_base + up_cols * stride_bn, mask=col_ok, other=0.0).to(tl.float32)[None, :]
    if GATE == 0:
        h = acc_gate * tl.sigmoid(acc_gate) * acc_up
    else:
        g = tl.minimum(acc_gate, limit)
        u = tl.minimum(tl.maximum(acc_up, -limit), limit)
        h = (u + 1.0) * (g * tl.sigmoid(g * alpha))
    out_ptrs = out_ptr + slots.to(tl.int64)[:, None] * stride_os + offs_n[None, :] * stride_oi
    tl.store(out_ptrs, h.to(out_ptr.dtype.element_ty), mask=row_ok[:, None] & col_ok[None, :])


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
    cfg = config or pick_config(align.num_slots, weights.num_experts, inter, weights.hidden_size)
    if cfg.block_m != align.block_size:
        raise ValueError(f"config.block_m={cfg.block_m} must equal the alignment block size {align.block_size}")
    bias = weights.gate_up_bias
    gate_step, up_offset = (2, 1) if weights.interleaved else (1, inter)
    grid = (align.capacity // cfg.block_m, triton.cdiv(inter, cfg.block_n))
    _gate_up_kernel[grid](
        x,
        weights.gate_up,
        bias if bias is not None else x,
        out,
        align.sorted_ids,
        align.expert_ids,
        align.num_padded,
        align.num_slots,
        inter,
        weights.hidden_size,
        top_k,
        x.stride(0),
        x.stride(1),
        *weights.gate_up_strides(),
        bias.stride(0) if bias is not None else 0,
        bias.stride(1) if bias is not None else 0,
        out.stride(0),
        out.stride(1),
        gate_step,
        up_offset,
        float(alpha),
        float(limit),
        GATE=GATES.index(gate),
        HAS_BIAS=bias is not None,
        INPUT_PRECISION="ieee" if x.dtype == torch.float32 else "tf32",
        BLOCK_M=cfg.block_m,
        BLOCK_N=cfg.block_n,
        BLOCK_K=cfg.block_k,
        num_warps=cfg.num_warps,
        num_stages=cfg.num_stages,
    )
    return out
