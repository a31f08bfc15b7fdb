"""Alignment figures: every routed slot drawn once in its expert's block, padding blank, waste per size."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import qnext_lab as ql
from qnext_lab.figures.alignment import alignment_figure, padding_waste_figure
from qnext_lab.kernels import align_reference


def test_alignment_figure_draws_each_slot_in_its_experts_block():
    topk_ids = torch.tensor([[0, 2], [2, 1], [0, 1], [2, 0]], dtype=torch.int32)  # T=4, k=2, E=3
    result = align_reference(topk_ids, 3, 4, decode_path=False)
    fig = alignment_figure(result, top_k=2, num_experts=3)
    z = np.asarray(fig.data[0].z, dtype=float)
    assert z.shape == (3, 4)  # expert 0: 3 slots, expert 1: 2, expert 2: 3 -> one block each
    assert [sorted(set(row[~np.isnan(row)].tolist())) for row in z] == [[0.0], [1.0], [2.0]]
    assert int((~np.isnan(z)).sum()) == 8  # T*k slots, the rest is padding
    assert "token 1, rank 1" in fig.data[0].text[1][0]  # slot 3 = token 1 rank 1 -> expert 1
    assert "4 padding rows" in fig.layout.title.text


def test_padding_waste_is_padded_share_per_block_size():
    fig = padding_waste_figure({16: 480, 8: 400, 32: 640}, num_slots=240)
    assert list(fig.data[0].x) == ["8", "16", "32"]
    np.testing.assert_allclose(fig.data[0].y, [0.4, 0.5, 0.625])


def test_builders_are_reachable_from_the_public_figures_package():
    assert ql.figures.alignment_figure is alignment_figure
    with pytest.raises(AttributeError):
        _ = ql.figures.no_such_builder
