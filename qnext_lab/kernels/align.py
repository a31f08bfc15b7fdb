"""Alignment: group the T*k (token, slot) pairs by expert and pad each group to a block of rows.

Dimension legend: T = tokens, k = experts per token, S = T*k slots (slot s = token s // k, rank s % k),
E = experts, BM = block size (rows per GEMM tile), P = padded rows (capacity), B = P // BM blocks.

The grouped GEMMs take one expert per block of BM rows, as vLLM's ``moe_align_block_size`` sets up:
``sorted_ids[P]`` lists the slot of every row (``S`` marks a padding row), ``expert_ids[B]`` the expert of
every block (-1 past the end) and ``num_padded`` how many rows are in use. Slots of one expert keep their
original order (a stable sort), so the result is deterministic. Decode fast path: when there are few slots
per expert, padding would dominate anyway, so every slot gets its own block and nothing is sorted.
Knows nothing about transformers.

    a = align_block_size(topk_ids, num_experts=64, block_size=16)
    a.blocks(top_k=2)  # [{"block": 0, "expert": 3, "slots": [...], "tokens": [...], "padding": 13}, ...]
"""

from dataclasses import dataclass

import torch

from .backend import resolve_backend
from .triton_lang import tl, triton

__all__ = ["AlignResult", "align_block_size", "align_reference", "use_decode_path"]

# Slots per chunk in the Triton kernels: a chunk's within-expert ranks come from a CHUNK x CHUNK compare.
_CHUNK = 128


@dataclass(frozen=True)
class AlignResult:
    """Rows grouped by expert and padded to whole blocks; the GEMM kernels' schedule."""

    sorted_ids: torch.Tensor  # (P,) int32: slot of each row; num_slots marks a padding row
    expert_ids: torch.Tensor  # (B,) int32: expert of each block of block_size rows; -1 for unused blocks
    num_padded: torch.Tensor  # (1,) int32: rows in use (multiple of block_size), kept on device (no sync)
    block_size: int
    num_slots: int
    decode_path: bool  # True when every slot got its own block (no sort)

    @property
    def capacity(self) -> int:
        """P: the most rows any routing of these slots can need; the GEMM grid is sized by it."""
        return self.sorted_ids.numel()

    def blocks(self, top_k: int | None = None) -> list[dict]:
        """The used blocks as plain rows for display (one host sync): block, expert, slots, tokens, padding.

        ``top_k`` turns slots into token indices (slot // k); without it ``tokens`` is omitted.
        """
        used = int(self.num_padded)
        rows = self.sorted_ids[:used].view(-1, self.block_size).tolist()  # (B_used, BM)
        experts = self.expert_ids[: used // self.block_size].tolist()
        out = []
        for b, (expert, slots) in enumerate(zip(experts, rows)):
            real = [s for s in slots if s < self.num_slots]
            row = {"block": b, "expert": expert, "slots": real, "padding": self.block_size - len(real)}
            if top_k:
                row["tokens"] = [s // top_k for s in real]
            out.append(row)
        return out


def use_decode_path(num_slots: int, num_experts: int) -> bool:
    """Skip the sort when slots are few per expert: at S <= E/4 nearly every slot hits its own expert,
    so sorted blocks would be as many (and as padded) as one block per slot."""
    return 4 * num_slots <= num_experts


def _capacity(num_slots: int, num_experts: int, block_size: int) -> int:
    # Each active expert wastes at most BM-1 rows, and at most min(S, E) experts are active.
    worst = num_slots + min(num_slots, num_experts) * (block_size - 1)
    return triton.cdiv(worst, block_size) * block_size


def _check(topk_ids: torch.Tensor, num_experts: int, block_size: int) -> None:
    if not isinstance(topk_ids, torch.Tensor):
        raise TypeError(f"topk_ids must be a torch.Tensor, got {type(topk_ids).__name__}")
    if topk_ids.dim() != 2 or topk_ids.dtype not in (torch.int32, torch.int64):
        raise ValueError(
            f"topk_ids must be a 2-D int32/int64 tensor (T, k), got {topk_ids.dtype} {tuple(topk_ids.shape)}"
        )
    if not isinstance(num_experts, int) or num_experts < 1:
        raise ValueError(f"num_experts must be a positive int, got {num_experts!r}")
    if not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"block_size must be a positive int, got {block_size!r}")


def _validate_range(topk_ids: torch.Tensor, num_experts: int) -> None:
    if topk_ids.numel() and (int(topk_ids.min()) < 0 or int(topk_ids.max()) >= num_experts):
        raise ValueError(
            f"topk_ids must lie in [0, {num_experts}); got values in [{int(topk_ids.min())}, {int(topk_ids.max())}]"
        )


def _decode_layout(topk_ids: torch.Tensor, block_size: int) -> AlignResult:
    flat = topk_ids.reshape(-1)  # (S,)
    num_slots = flat.numel()
    sorted_ids = torch.full((num_slots, block_size), num_slots, dtype=torch.int32, device=flat.device)
    sorted_ids[:, 0] = torch.arange(num_slots, dtype=torch.int32, device=flat.device)  # (S, BM): row 0 only
    num_padded = torch.full((1,), num_slots * block_size, dtype=torch.int32, device=flat.device)
    return AlignResult(sorted_ids.reshape(-1), flat.to(torch.int32), num_padded, block_size, num_slots, True)


def align_reference(
    topk_ids: torch.Tensor, num_experts: int, block_size: int, *, decode_path: bool | None = None
) -> AlignResult:
    """Pure-torch alignment (stable sort by expert, pad each group to ``block_size`` rows)."""
    _check(topk_ids, num_experts, block_size)
    _validate_range(topk_ids, num_experts)
    flat = topk_ids.reshape(-1).long()  # (S,)
    num_slots = flat.numel()
    if decode_path if decode_path is not None else use_decode_path(num_slots, num_experts):
        return _decode_layout(topk_ids, block_size)
    device = flat.device
    sorted_experts, order = torch.sort(flat, stable=True)  # (S,) slots grouped by expert
    counts = torch.bincount(flat, minlength=num_experts)  # (E,)
    padded = (counts + block_size - 1) // block_size * block_size  # (E,)
    padded_start = torch.cumsum(padded, 0) - padded  # (E,) first row of each expert
    group_start = torch.cumsum(counts, 0) - counts  # (E,) first sorted slot of each expert
    rank = torch.arange(num_slots, device=device) - group_start[sorted_experts]  # (S,) rank inside group
    capacity = _capacity(num_slots, num_experts, block_size)
    sorted_ids = torch.full((capacity,), num_slots, dtype=torch.int32, device=device)
    sorted_ids[padded_start[sorted_experts] + rank] = order.to(torch.int32)
    blocks = torch.repeat_interleave(torch.arange(num_experts, device=device), padded // block_size)  # (B_used,)
    expert_ids = torch.full((capacity // block_size,), -1, dtype=torch.int32, device=device)
    expert_ids[: blocks.numel()] = blocks.to(torch.int32)
    num_padded = padded.sum().reshape(1).to(torch.int32)
    return AlignResult(sorted_ids, expert_ids, num_padded, block_size, num_slots, False)


@triton.jit
def _count_kernel(
    ids_ptr,
    chunk_counts_ptr,  # (S,) expert of each slot; (C, E) int32 out: slots per expert per chunk
    num_slots,
    num_experts,
    CHUNK: tl.constexpr,
    BINS: tl.constexpr,  # BINS: power of two >= E
):
    chunk = tl.program_id(0)
    offs = chunk * CHUNK + tl.arange(0, CHUNK)
    mask = offs < num_slots
    ids = tl.load(ids_ptr + offs, mask=mask, other=0).to(tl.int32)
    hist = tl.histogram(ids, BINS, mask=mask)  # (BINS,)
    bins = tl.arange(0, BINS)
    tl.store(chunk_counts_ptr + chunk * num_experts + bins, hist.to(tl.int32), mask=bins < num_experts)


@triton.jit
def _scan_kernel(
    chunk_counts_ptr,  # (C, E) in: slots per chunk and expert; out: slots of that expert in earlier chunks
    expert_start_ptr,
    expert_end_ptr,  # (E,) int32 out: padded row range of each expert
    num_padded_ptr,  # (1,) int32 out
    num_chunks,
    num_experts,
    BLOCK_SIZE: tl.constexpr,
    BLOCK_E: tl.constexpr,
):
    offs_e = tl.arange(0, BLOCK_E)
    mask = offs_e < num_experts
    running = tl.zeros((BLOCK_E,), dtype=tl.int32)
    for c in range(num_chunks):  # one program: C = S / CHUNK is at most a few thousand rows of E
        row = tl.load(chunk_counts_ptr + c * num_experts + offs_e, mask=mask, other=0)
        tl.store(chunk_counts_ptr + c * num_experts + offs_e, running, mask=mask)
        running += row
    padded = (running + BLOCK_SIZE - 1) // BLOCK_SIZE * BLOCK_SIZE
    ends = tl.cumsum(padded, axis=0)
    tl.store(expert_start_ptr + offs_e, ends - padded, mask=mask)
    tl.store(expert_end_ptr + offs_e, ends, mask=mask)
    tl.store(num_padded_ptr, tl.sum(padded, axis=0))


@triton.jit
def _scatter_kernel(
    ids_ptr,
    chunk_offsets_ptr,
    expert_start_ptr,  # (S,), (C, E), (E,)
    sorted_ids_ptr,  # (P,) int32 out (pre-filled with S)
    num_slots,
    num_experts,
    CHUNK: tl.constexpr,
):
    chunk = tl.program_id(0)
    local = tl.arange(0, CHUNK)
    offs = chunk * CHUNK + local
    mask = offs < num_slots
    ids = tl.load(ids_ptr + offs, mask=mask, other=-1).to(tl.int32)
    # Rank among earlier slots of this chunk with the same expert: keeps the sort stable without atomics.
    same = (ids[:, None] == ids[None, :]) & (local[None, :] < local[:, None])
    rank = tl.sum(same.to(tl.int32), axis=1)
    safe = tl.where(mask, ids, 0)
    base = tl.load(expert_start_ptr + safe, mask=mask, other=0)
    before = tl.load(chunk_offsets_ptr + chunk * num_experts + safe, mask=mask, other=0)
    tl.store(sorted_ids_ptr + base + before + rank, offs.to(tl.int32), mask=mask)


@triton.jit
def _block_experts_kernel(
    expert_end_ptr,
    num_padded_ptr,  # (E,), (1,)
    expert_ids_ptr,  # (B,) int32 out
    num_blocks,
    num_experts,
    BLOCK_SIZE: tl.constexpr,
    BLOCK_B: tl.constexpr,
    BLOCK_E: tl.constexpr,
):
    blocks = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    offs_e = tl.arange(0, BLOCK_E)
    ends = tl.load(expert_end_ptr + offs_e, mask=offs_e < num_experts, other=2147483647)
    first_row = blocks * BLOCK_SIZE
    # The expert of a block is the number of experts whose padded range ends at or before its first row.
    expert = tl.sum((ends[None, :] <= first_row[:, None]).to(tl.int32), axis=1)
    expert = tl.where(first_row < tl.load(num_padded_ptr), expert, -1)
    tl.store(expert_ids_ptr + blocks, expert, mask=blocks < num_blocks)


def _align_triton(topk_ids: torch.Tensor, num_experts: int, block_size: int) -> AlignResult:
    flat = topk_ids.reshape(-1)  # (S,)
    if flat.dtype != torch.int32:
        flat = flat.to(torch.int32)
    flat = flat.contiguous()
    num_slots, device = flat.numel(), flat.device
    capacity = _capacity(num_slots, num_experts, block_size)
    num_blocks = capacity // block_size
    num_chunks = triton.cdiv(num_slots, _CHUNK)
    block_e = triton.next_power_of_2(num_experts)
    chunk_counts = torch.empty(num_chunks, num_experts, dtype=torch.int32, device=device)  # (C, E)
    expert_start = torch.empty(num_experts, dtype=torch.int32, device=device)
    expert_end = torch.empty(num_experts, dtype=torch.int32, device=device)
    num_padded = torch.empty(1, dtype=torch.int32, device=device)
    sorted_ids = torch.full((capacity,), num_slots, dtype=torch.int32, device=device)
    expert_ids = torch.empty(num_blocks, dtype=torch.int32, device=device)
    _count_kernel[(num_chunks,)](flat, chunk_counts, num_slots, num_experts, CHUNK=_CHUNK, BINS=block_e)
    _scan_kernel[(1,)](
        chunk_counts,
        expert_start,
        expert_end,
        num_padded,
        num_chunks,
        num_experts,
        BLOCK_SIZE=block_size,
        BLOCK_E=block_e,
    )
    _scatter_kernel[(num_chunks,)](flat, chunk_counts, expert_start, sorted_ids, num_slots, num_experts, CHUNK=_CHUNK)
    block_b = 64 if block_e <= 256 else 16  # keeps the (BLOCK_B, BLOCK_E) compare near 16K elements
    _block_experts_kernel[(triton.cdiv(num_blocks, block_b),)](
        expert_end,
        num_padded,
        expert_ids,
        num_blocks,
        num_experts,
        BLOCK_SIZE=block_size,
        BLOCK_B=block_b,
        BLOCK_E=block_e,
    )
    return AlignResult(sorted_ids, expert_ids, num_padded, block_size, num_slots, False)


def align_block_size(
    topk_ids: torch.Tensor,
    num_experts: int,
    block_size: int,
    *,
    decode_path: bool | None = None,
    backend: str | None = None,
    validate: bool = True,
) -> AlignResult:
    """Group slots by expert and pad to ``block_size`` rows (see the module docstring).

    ``decode_path``: force (True) or forbid (False) one block per slot; default: ``use_decode_path``.
    ``validate``: check ids lie in [0, E) (one device sync; the runtime turns it off).
    """
    _check(topk_ids, num_experts, block_size)
    if validate:
        _validate_range(topk_ids, num_experts)
    num_slots = topk_ids.numel()
    if decode_path if decode_path is not None else use_decode_path(num_slots, num_experts):
        return _decode_layout(topk_ids, block_size)
    if resolve_backend(topk_ids, backend) == "torch" or num_slots == 0:
        return align_reference(topk_ids, num_experts, block_size, decode_path=False)
    return _align_triton(topk_ids, num_experts, block_size)
