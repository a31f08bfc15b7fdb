"""What the two grouped GEMMs (``gemm_gate_up``, ``gemm_down``) share, written once.

Dimension legend: S = T*k slots, E = experts, BM/BN/BK = tile sizes, N = output columns, K = reduction size.

Inside a kernel (``@triton.jit`` helpers, inlined by the compiler): the expert and slots of a block of rows
from the ``AlignResult`` schedule, and the masked tile loads and stores. On the host: the tile sizes checked
against the alignment, the launch grid and meta-parameters, a bias argument that may be absent, and the
torch references' loop over active experts. Knows nothing about the gate, the combine or transformers.

    cfg = launch_config(config, align, num_experts=E, n=N, k=K)
    launch(_kernel, align, cfg, n=N, dtype=x.dtype, args=(...), HAS_BIAS=True)
"""

from collections.abc import Callable, Iterator

import torch

from .align import AlignResult
from .triton_lang import tl, triton
from .tuning import GemmConfig, pick_config

__all__ = [
    "bias_args",
    "block_rows",
    "expert_products",
    "launch",
    "launch_config",
    "load_bias",
    "load_tile",
    "store_tile",
]


@triton.jit
def block_rows(pid_m, sorted_ids_ptr, expert_ids_ptr, num_slots, BLOCK_M: tl.constexpr):
    """Block ``pid_m`` of the schedule: its expert (int64), its rows' slots (BM,) and which are real slots."""
    expert = tl.load(expert_ids_ptr + pid_m).to(tl.int64)  # int64: e * stride_we passes 2^31 at E=512, H=2048
    slots = tl.load(sorted_ids_ptr + pid_m * BLOCK_M + tl.arange(0, BLOCK_M))  # (BM,)
    return expert, slots, slots < num_slots


@triton.jit
def load_tile(ptr, rows, cols, stride_r, stride_c, row_ok, col_ok):
    """The (R, C) tile ``ptr[rows[:, None] * stride_r + cols[None, :] * stride_c]``, zero where masked."""
    return tl.load(
        ptr + rows[:, None] * stride_r + cols[None, :] * stride_c, mask=row_ok[:, None] & col_ok[None, :], other=0.0
    )


@triton.jit
def store_tile(ptr, rows, cols, stride_r, stride_c, row_ok, col_ok, value):
    """Store the (R, C) ``value`` at ``ptr[rows[:, None] * stride_r + cols[None, :] * stride_c]``, cast to ptr's type."""
    tl.store(
        ptr + rows[:, None] * stride_r + cols[None, :] * stride_c,
        value.to(ptr.dtype.element_ty),
        mask=row_ok[:, None] & col_ok[None, :],
    )


@triton.jit
def load_bias(ptr, cols, stride, col_ok):
    """The (1, C) fp32 bias row ``ptr[cols * stride]``, zero where masked."""
    return tl.load(ptr + cols * stride, mask=col_ok, other=0.0).to(tl.float32)[None, :]


def launch_config(config: GemmConfig | None, align: AlignResult, *, num_experts: int, n: int, k: int) -> GemmConfig:
    """``config``, or the tuning table's tiles for this routing; refused when BM is not the alignment's block."""
    cfg = config or pick_config(align.num_slots, num_experts, n, k)
    if cfg.block_m != align.block_size:
        raise ValueError(f"config.block_m={cfg.block_m} must equal the alignment block size {align.block_size}")
    return cfg


def bias_args(bias: torch.Tensor | None, placeholder: torch.Tensor) -> tuple[torch.Tensor, int, int]:
    """(pointer, stride_e, stride_n) of an (E, N) bias; without one, a placeholder pointer the kernel never reads."""
    if bias is None:
        return placeholder, 0, 0
    return bias, bias.stride(0), bias.stride(1)


def launch(
    kernel: object, align: AlignResult, cfg: GemmConfig, *, n: int, dtype: torch.dtype, args: tuple, **constexprs
) -> None:
    """Run a grouped GEMM kernel over every block the routing can need x the N tiles, with ``cfg``'s tiles.

    fp32 inputs multiply in IEEE fp32 (no tf32), so the Triton path matches the fp32 reference.
    """
    grid = (align.capacity // cfg.block_m, triton.cdiv(n, cfg.block_n))
    kernel[grid](
        *args,
        **constexprs,
        INPUT_PRECISION="ieee" if dtype == torch.float32 else "tf32",
        BLOCK_M=cfg.block_m,
        BLOCK_N=cfg.block_n,
        BLOCK_K=cfg.block_k,
        num_warps=cfg.num_warps,
        num_stages=cfg.num_stages,
    )


def expert_products(
    a: torch.Tensor,
    topk_ids: torch.Tensor,
    matrix: Callable[[int], torch.Tensor],
    bias: torch.Tensor | None,
    *,
    by_token: bool,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The references' loop: per active expert e, (its slots (c,), ``a[rows] @ matrix(e).T + bias[e]`` (c, N) fp32).

    ``a`` holds a row per token (``by_token``: slot s reads row s // k) or per slot.
    """
    top_k = topk_ids.shape[1]
    flat = topk_ids.reshape(-1).long()  # (S,)
    for expert in torch.unique(flat).tolist():  # active experts only
        slots = torch.nonzero(flat == expert).squeeze(1)  # (c,)
        rows = a[slots // top_k if by_token else slots].float() @ matrix(expert).float().T  # (c, N)
        if bias is not None:
            rows = rows + bias[expert].float()
        yield slots, rows
