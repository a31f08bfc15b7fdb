"""The vectorised expert-set overlap used by repetition, saturation and drift, against a plain oracle.

``_shared_chunks`` compares two (M, k) id tensors at 2k - 1 flattened offsets, with an odd-row parity shift so
that offsets never match across rows; the oracle below is the obvious (M, k, k) broadcast compare. Random ids
with k >= 3 (where offsets reach across rows) and M spanning several chunks, with odd remainders and odd
chunk sizes, are where the clever version could go wrong.
"""

import pytest
import torch

from qnext_lab.analysis._common import _shared_chunks, shared_total, shares_any


def overlap_counts(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(M, k), (M, k') expert ids -> (M,) int64 |set(a_m) & set(b_m)| (ids distinct within a row)."""
    return (a[:, :, None] == b[:, None, :]).any(-1).sum(-1)


def random_ids(m: int, k: int, e: int, seed: int, like: torch.Tensor | None = None) -> torch.Tensor:
    """(M, k) ids distinct within each row; with ``like``, about half of each row is copied from it."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.argsort(torch.rand(m, e, generator=g), dim=1)[:, :k]  # (M, k) distinct per row
    if like is not None:  # force overlaps at shifted ranks, the case the offset compares must catch
        keep = torch.rand(m, generator=g) < 0.5
        shifted = like.roll(1, dims=1).long()
        ids[keep] = shifted[keep]
    return ids.to(torch.int32)


@pytest.mark.parametrize(
    "m, k, e", [(1, 3, 4), (7, 3, 5), (2 * 16384 + 5, 4, 16), (16385, 8, 64), (999, 10, 512), (301, 3, 3)]
)
def test_shared_total_and_shares_any_match_the_broadcast_oracle(m, k, e):
    a = random_ids(m, k, e, seed=m + k)
    b = random_ids(m, k, e, seed=m + k + 1, like=a)
    expected = overlap_counts(a, b)  # (M,)
    assert shared_total(a, b, e) == int(expected.sum())
    assert torch.equal(shares_any(a, b, e), expected > 0)
    assert shared_total(a, a, e) == m * k  # a row shares all k experts with itself


@pytest.mark.parametrize("chunk", [1, 2, 5, 64])
def test_chunk_boundaries_do_not_change_the_answer(chunk):
    a = random_ids(203, 5, 12, seed=chunk)
    b = random_ids(203, 5, 12, seed=chunk + 100, like=a)
    expected = overlap_counts(a, b)
    total = sum(shared for _, _, _, shared in _shared_chunks(a, b, 12, True, chunk=chunk))
    assert total == int(expected.sum())
    hit_rows = torch.zeros(203, dtype=torch.bool)
    for start, c, hit, _ in _shared_chunks(a, b, 12, False, chunk=chunk):
        hit_rows[start : start + c] = torch.from_numpy(hit.reshape(c, 5).any(axis=1))
    assert torch.equal(hit_rows, expected > 0)


def test_empty_and_mismatched_inputs():
    empty = torch.zeros(0, 3, dtype=torch.int32)
    assert shared_total(empty, empty, 8) == 0 and shares_any(empty, empty, 8).numel() == 0
    with pytest.raises(ValueError, match="differ in shape"):
        shared_total(torch.zeros(2, 3, dtype=torch.int32), torch.zeros(3, 3, dtype=torch.int32), 8)
