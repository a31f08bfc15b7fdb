"""Block sizes for the grouped GEMMs, from a small table keyed by tokens per expert.

Dimension legend: S = routed slots (T*k), E = experts, N = output columns, K = reduction size.
Why a table and not ``triton.autotune``: the best tile depends mostly on how many rows each expert gets
(S / E), which changes every call with the routing, and autotune would re-benchmark (and sync) for every
new S under CUDA graphs. The table starts from vLLM's fused_moe configs for H100/H200-class GPUs (not yet measured on a GPU in
this project; see docs/benchmarks.md):

- decode (<= 16 rows per expert on average): BLOCK_M = 16, the smallest ``tl.dot`` tile, so padding wastes
  little; a deep BLOCK_K to stream the weights (memory-bound, one pass over each touched expert) and a
  narrow BLOCK_N so that the few active experts still spread over every SM (GEMM 1 loads a gate and an up
  tile per program, so its BLOCK_N = 32 covers as many columns as vLLM's 64 on the fused gate_up);
- middle: BLOCK_M = 32 / 64;
- prefill (> 128 rows per expert): 64 x 128 x 64 tiles, 8 warps, 4 stages (compute-bound).

To retune: run ``benchmarks/bench_moe_gpu.py --sweep`` on the target GPU and edit ``_TABLE``.
Every row of the table can be picked for any model (a long enough prefill reaches the last), so the runtime's
self-check runs each row's tiles (``row=``, ``table_rows()``) before the Triton path serves a model.

    cfg = pick_config(num_slots=10, num_experts=512, n=512, k=2048)
    cfg.block_m, cfg.block_n, cfg.block_k
"""

from dataclasses import dataclass

from .backend import interpreting
from .triton_lang import triton

__all__ = ["GemmConfig", "pick_config", "table_rows"]


@dataclass(frozen=True)
class GemmConfig:
    block_m: int
    block_n: int
    block_k: int
    num_warps: int
    num_stages: int


# (max average rows per expert, config), first match wins.
_TABLE: tuple[tuple[float, GemmConfig], ...] = (
    (16.0, GemmConfig(16, 32, 128, 4, 4)),
    (64.0, GemmConfig(32, 64, 64, 4, 4)),
    (128.0, GemmConfig(64, 64, 64, 4, 3)),
    (float("inf"), GemmConfig(64, 128, 64, 8, 4)),
)
# The interpreter runs each program in numpy: small tiles keep odd test shapes cheap and still
# exercise the masking of partial tiles.
_INTERPRETER_TABLE: tuple[tuple[float, GemmConfig], ...] = ((float("inf"), GemmConfig(16, 64, 64, 4, 1)),)


def _table() -> tuple[tuple[float, GemmConfig], ...]:
    return _INTERPRETER_TABLE if interpreting() else _TABLE


def table_rows() -> int:
    """How many rows the table in use has (the self-check runs each: ``pick_config(..., row=i)``)."""
    return len(_table())


def pick_config(num_slots: int, num_experts: int, n: int, k: int, *, row: int | None = None) -> GemmConfig:
    """Tile sizes for a grouped GEMM with ``num_slots`` rows over ``num_experts``, output N, reduction K.

    ``row`` forces a table row instead of the one the rows per expert select (for the self-check).
    """
    table = _table()
    if row is None:
        rows_per_expert = num_slots / max(min(num_slots, num_experts), 1)
        row = next(i for i, (limit, _) in enumerate(table) if rows_per_expert <= limit)  # the last has no limit
    cfg = table[row][1]
    # Never a tile much wider than the matrix: small test configs (N, K < 64) would only mask.
    return GemmConfig(
        cfg.block_m,
        max(16, min(cfg.block_n, triton.next_power_of_2(n))),
        max(16, min(cfg.block_k, triton.next_power_of_2(k))),
        cfg.num_warps,
        cfg.num_stages,
    )
