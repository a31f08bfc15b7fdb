"""Shared checks and small vectorised helpers for the routing metrics (private to ``analysis``).

Knows RoutingTrace's fields; knows nothing about models or figures.
Dimension legend: L = layers, N = tokens, k = top-k, E = experts.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from ..checks import as_int_list
from ..trace.routing_trace import RoutingTrace


def check_trace(trace: object, name: str = "trace") -> RoutingTrace:
    if not isinstance(trace, RoutingTrace):
        raise TypeError(
            f"{name} must be a qnext_lab.RoutingTrace (from capture() or RoutingTrace.load), got {type(trace).__name__}"
        )
    return trace


def check_same_tokens(a: RoutingTrace, b: RoutingTrace, what: str) -> None:
    """Two traces of one architecture over the same tokens in the same order, or ValueError saying how to get them."""
    if a.num_experts != b.num_experts or a.top_k != b.top_k:
        raise ValueError(
            f"traces differ in experts/top-k ({a.num_experts}/{a.top_k} vs {b.num_experts}/{b.top_k}): "
            f"{what} compares two models of one architecture"
        )
    same = (
        len(a) == len(b)
        and torch.equal(a.token_ids, b.token_ids)
        and torch.equal(a.seq_index, b.seq_index)
        and torch.equal(a.position, b.position)
    )
    if not same:
        raise ValueError(
            f"{what} needs two traces of the same tokens in the same order ({len(a)} vs {len(b)} tokens, "
            "or different token ids); run both models on the same inputs, e.g. a plain forward over "
            "one batch, or one model's generated tokens fed to the other"
        )


def layer_positions(trace: RoutingTrace, layers: int | Iterable[int] | None) -> list[tuple[int, int]]:
    """[(position in the trace, decoder-layer index)] for the requested decoder layers (default: all)."""
    if layers is None:
        return list(enumerate(trace.layer_indices))
    wanted = as_int_list(layers, "layers", hint=f"; captured layers are {trace.layer_indices}")
    unknown = [i for i in wanted if i not in trace.layer_indices]
    if unknown:
        raise ValueError(f"layer(s) {unknown} not in this trace; captured layers are {trace.layer_indices}")
    return [(trace.layer_indices.index(i), i) for i in wanted]


def token_order(trace: RoutingTrace) -> torch.Tensor:
    """(N,) int64 permutation sorting tokens by (sequence, position): reading order inside each sequence."""
    key = trace.seq_index.long() * (int(trace.position.max()) + 1 if len(trace) else 1) + trace.position.long()
    return torch.argsort(key, stable=True)


def _shared_chunks(a: torch.Tensor, b: torch.Tensor, num_experts: int, count: bool, chunk: int = 1 << 14):
    """Yield (start, c, hit, shared) per chunk of c rows of two (M, k) expert-id tensors (ids in [0, E),
    distinct within a row). Without ``count``: hit is a (c * k,) numpy bool array, True where a[row, i] equals
    some b[row, j], and shared is 0. With ``count``: shared is the number of equal (i, j) pairs in the chunk
    (hit then only covers j == i).

    Instead of a (M, k, k) broadcast compare (tiny innermost dims, slow), both chunks are flattened and
    compared at the 2k - 1 relative offsets d = j - i, each one contiguous vectorised compare. Offsets that
    reach into the neighbouring row are made to miss by adding E to the ids of odd rows (neighbours have
    different parity), so no masking is needed.
    """
    M, k = a.shape
    dtype = np.int16 if 2 * num_experts <= np.iinfo(np.int16).max else np.int64
    A, B = a.numpy(), b.numpy()
    rows = min(chunk, M)
    parity = ((np.arange(rows) & 1) * num_experts).astype(dtype)[:, None]  # (rows, 1)
    xa, xb = np.empty((rows, k), dtype), np.empty((rows, k), dtype)
    hit, buf = np.empty(rows * k, bool), np.empty(rows * k, bool)
    for start in range(0, M, rows):
        c = min(rows, M - start)
        m = c * k
        x = np.add(A[start : start + c], parity[:c], out=xa[:c], casting="unsafe").reshape(-1)
        y = np.add(B[start : start + c], parity[:c], out=xb[:c], casting="unsafe").reshape(-1)
        h = np.equal(x, y, out=hit[:m])
        shared = int(np.count_nonzero(h)) if count else 0
        for d in range(1, k):
            e = np.equal(x[: m - d], y[d:], out=buf[: m - d])  # a[., i] vs b[., i + d]
            if count:
                shared += int(np.count_nonzero(e))
            else:
                h[: m - d] |= e
            e = np.equal(x[d:], y[: m - d], out=buf[: m - d])  # a[., i] vs b[., i - d]
            if count:
                shared += int(np.count_nonzero(e))
            else:
                h[d:] |= e
        yield start, c, h, shared


def shared_total(a: torch.Tensor, b: torch.Tensor, num_experts: int) -> int:
    """(M, k), (M, k) expert ids (distinct within a row) -> sum over rows of |set(a_m) & set(b_m)| (checked
    against a plain broadcast compare in tests/analysis/test_common.py)."""
    if a.shape != b.shape:
        raise ValueError(f"expert-id tensors differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    if a.numel() == 0:
        return 0
    return sum(shared for _, _, _, shared in _shared_chunks(a.contiguous(), b.contiguous(), num_experts, True))


def shares_any(a: torch.Tensor, b: torch.Tensor, num_experts: int) -> torch.Tensor:
    """(M, k), (M, k) expert ids (distinct within a row) -> (M,) bool: a_m and b_m share at least one expert."""
    if a.shape != b.shape:
        raise ValueError(f"expert-id tensors differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    M, k = a.shape
    out = np.zeros(M, bool)
    if a.numel():
        for start, c, h, _ in _shared_chunks(a.contiguous(), b.contiguous(), num_experts, False):
            np.any(h.reshape(c, k), axis=1, out=out[start : start + c])
    return torch.from_numpy(out)
