"""Selection figures: the tokens x tokens heatmap draws exactly the recorded selection (kept / left out /
future), token text arrives escaped, the side-by-side view lines the experts up with the same queries, and
traces of different runs are refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from qnext_lab.figures import selection_beside_experts, selection_heatmap
from qnext_lab.trace.selection import SelectionTrace

N = 12  # tokens of the known sequence
XSS = "<img src=x onerror=alert(1)>"


def known_selection(layers=(2,)) -> SelectionTrace:
    """Query i keeps itself, position 0 and (when i >= 4) position i - 2: a budget of 3."""
    rows = []
    for i in range(N):
        keep = sorted({0, i} | ({i - 2} if i >= 4 else set()))
        rows.append(keep + [-1] * (3 - len(keep)))
    sel = torch.tensor([rows] * len(layers), dtype=torch.int32)  # (L, N, 3)
    n = torch.arange(N)
    tokens = [f"t{i}" for i in range(N)]
    tokens[5] = XSS
    return SelectionTrace(sel, n, torch.zeros(N, dtype=torch.int32), n.int(), list(layers), "known", tokens)


def test_heatmap_draws_the_selection_exactly():
    sel = known_selection()
    fig = selection_heatmap(sel, layer=2)
    z = np.asarray(fig.data[0].z, dtype=float)
    assert z.shape == (N, N)
    for i in range(N):
        for j in range(N):
            if j > i:
                assert np.isnan(z[i, j])  # the future is not drawn
            else:
                assert z[i, j] == (1.0 if j in {0, i} or (i >= 4 and j == i - 2) else 0.0)
    assert "mean 2.6 kept per query" in fig.layout.title.text


def test_token_text_is_escaped_everywhere(known_trace_builder):
    sel = known_selection()
    trace = known_trace_builder(num_layers=1, num_tokens=N, layer_indices=[2])
    for fig in (selection_heatmap(sel), selection_beside_experts(sel, trace, layer=2)):
        dumped = json.dumps(fig.to_plotly_json(), default=str)
        assert "<img" not in dumped and "&lt;img src=x" in dumped


def test_beside_experts_aligns_rows_and_refuses_other_runs(known_trace_builder):
    sel = known_selection()
    trace = known_trace_builder(num_layers=1, num_tokens=N, layer_indices=[2])
    fig = selection_beside_experts(sel, trace, layer=2, window=(4, 10))
    left, right = np.asarray(fig.data[0].z, dtype=float), np.asarray(fig.data[1].z, dtype=float)
    assert left.shape == (6, 10) and right.shape == (6, 8)
    assert list(fig.data[0].y) == list(fig.data[1].y) == list(range(4, 10))
    for row, i in enumerate(range(4, 10)):  # known trace: token n goes to (n + layer) % E at 0.7
        assert right[row, i % 8] == pytest.approx(0.7) and np.isnan(right[row]).sum() == 6
    with pytest.raises(ValueError, match="no decoder layer 5"):
        selection_beside_experts(known_selection(layers=(5,)), trace, layer=5)
    other = SelectionTrace(sel.selected, sel.token_ids + 1, sel.seq_index, sel.position, [2], "other")
    with pytest.raises(ValueError, match="not the sequence of the selection trace"):
        selection_beside_experts(other, trace, layer=2)


def test_bad_arguments_are_refused():
    sel = known_selection()
    with pytest.raises(ValueError, match="was not captured"):
        selection_heatmap(sel, layer=3)
    with pytest.raises(ValueError, match="sequence 1 has no queries"):
        selection_heatmap(sel, seq=1)
    with pytest.raises(ValueError, match="window stop"):
        selection_heatmap(sel, window=(0, 99))
    with pytest.raises(TypeError, match="integer"):
        selection_heatmap(sel, layer=2.0)
    partial = SelectionTrace(sel.selected[:, 4:], sel.token_ids[4:], sel.seq_index[4:], sel.position[4:], [2])
    with pytest.raises(ValueError, match="not complete"):
        selection_heatmap(partial)
