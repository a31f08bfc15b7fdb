"""routing_drift: hand-computed flip rate, overlap (|∩|/k) and weight change; refusals; its figure."""

from __future__ import annotations

import pytest
import torch

from qnext_lab.analysis import routing_drift
from qnext_lab.analysis.drift import weight_change
from qnext_lab.figures.analysis import drift_figure
from qnext_lab.trace import RoutingTrace


def _trace(ids, weights, num_experts=8, token_ids=None) -> RoutingTrace:
    ids = torch.tensor(ids, dtype=torch.int32)  # (L, N, k)
    L, N, k = ids.shape
    return RoutingTrace(
        topk_ids=ids,
        topk_weights=torch.tensor(weights, dtype=torch.float32),
        token_ids=torch.tensor(token_ids if token_ids is not None else list(range(N))),
        seq_index=torch.zeros(N, dtype=torch.int32),
        position=torch.arange(N, dtype=torch.int32),
        layer_indices=[0, 2][:L],
        num_experts=num_experts,
        top_k=k,
        model_name="hand",
    )


A_IDS = [[[0, 1], [2, 3], [4, 5], [6, 7]], [[0, 1], [0, 1], [0, 1], [0, 1]]]
A_W = [[[0.6, 0.4]] * 4, [[0.5, 0.5]] * 4]


def test_identical_traces_do_not_drift():
    row = routing_drift(_trace(A_IDS, A_W), _trace(A_IDS, A_W))
    assert list(row["layer"]) == [0, 2] and row["top1_flip_rate"].tolist() == [0, 0]
    assert row["topk_overlap"].tolist() == [1, 1] and row["weight_change"].tolist() == [0, 0]
    assert row["random_overlap"].tolist() == [0.25, 0.25]


def test_hand_computed_drift():
    b_ids = [
        [
            [0, 1],  # same set, same order, weights moved 0.1 -> TV 0.1
            [3, 2],  # same set, top-1 flipped; weights 0.6/0.4 on 3/2 vs a's 0.6/0.4 on 2/3 -> TV 0.2
            [4, 0],  # one shared (4), top-1 kept: |0.6-0.7| + 0.4 (5 lost) + 0.3 (0 new) = 0.8 -> TV 0.4
            [1, 2],
        ],  # disjoint: flipped, TV 1
        A_IDS[1],
    ]
    b_w = [[[0.7, 0.3], [0.6, 0.4], [0.7, 0.3], [0.5, 0.5]], A_W[1]]
    row = routing_drift(_trace(A_IDS, A_W), _trace(b_ids, b_w)).set_index("layer")
    assert row.loc[0, "top1_flip_rate"] == pytest.approx(2 / 4)
    assert row.loc[0, "topk_overlap"] == pytest.approx((2 + 2 + 1 + 0) / 8)
    assert row.loc[0, "weight_change"] == pytest.approx((0.1 + 0.2 + 0.4 + 1.0) / 4)
    assert row.loc[2, "topk_overlap"] == 1 and row.loc[2, "weight_change"] == 0
    only = routing_drift(_trace(A_IDS, A_W), _trace(b_ids, b_w), layers=2)
    assert only["layer"].tolist() == [2]


def test_weight_change_matches_a_dense_reference():
    g = torch.Generator().manual_seed(0)
    E, N, k = 16, 300, 4
    ids_a = torch.stack([torch.randperm(E, generator=g)[:k] for _ in range(N)])
    ids_b = torch.stack([torch.randperm(E, generator=g)[:k] for _ in range(N)])
    w_a, w_b = torch.rand(N, k, generator=g).softmax(-1), torch.rand(N, k, generator=g).softmax(-1)
    dense_a = torch.zeros(N, E, dtype=torch.float64).scatter(1, ids_a, w_a.double())
    dense_b = torch.zeros(N, E, dtype=torch.float64).scatter(1, ids_b, w_b.double())
    expected = 0.5 * (dense_a - dense_b).abs().sum(-1)
    assert torch.allclose(weight_change(ids_a, w_a, ids_b, w_b, chunk=7), expected)


def test_refuses_traces_of_different_tokens():
    with pytest.raises(ValueError, match="same tokens in the same order"):
        routing_drift(_trace(A_IDS, A_W), _trace(A_IDS, A_W, token_ids=[0, 1, 2, 9]))
    with pytest.raises(ValueError, match="experts/top-k"):
        routing_drift(_trace(A_IDS, A_W), _trace(A_IDS, A_W, num_experts=16))
    with pytest.raises(ValueError, match="layer 2 is in trace_a but not in trace_b"):
        routing_drift(_trace(A_IDS, A_W), _trace(A_IDS[:1], A_W[:1]))
    with pytest.raises(TypeError, match="RoutingTrace"):
        routing_drift(_trace(A_IDS, A_W), "trace")


def test_drift_figure_one_line_per_group():
    import pandas as pd

    a = routing_drift(_trace(A_IDS, A_W), _trace(A_IDS, A_W)).assign(format="Q8_0")
    b = a.assign(format="<b>Q4_0</b>", top1_flip_rate=0.5)
    fig = drift_figure(pd.concat([a, b]), by="format")
    assert len(fig.data) == 6 and [t.name for t in fig.data[::3]] == ["Q8_0", "&lt;b&gt;Q4_0&lt;/b&gt;"]
    assert list(fig.data[3].y) == [0.5, 0.5] and list(fig.data[1].y) == [0, 0]  # panel 2 shows 1 - overlap
    with pytest.raises(ValueError, match="routing_drift"):
        drift_figure(pd.DataFrame({"layer": [0]}))
