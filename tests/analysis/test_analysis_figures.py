"""Figure builders for the metrics: the drawn numbers are the metric's numbers; token text is escaped."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from test_metrics import hand_trace

from qnext_lab.analysis import (
    coactivation,
    consecutive_repetition,
    expert_load,
    label_specialization,
    load_balance,
    router_saturation,
    routing_entropy,
    vocabulary_specialization,
)
from qnext_lab.figures import analysis as figs


def test_load_and_balance_figures():
    fig = figs.load_figure(expert_load(hand_trace()))
    assert np.allclose(fig.data[0].z, [[4 / 12, 3 / 12, 3 / 12, 2 / 12]])
    fig = figs.balance_figure(load_balance(hand_trace()))
    assert fig.data[0].y[0] == pytest.approx(1 / 3)  # MaxVio
    with pytest.raises(ValueError, match="expert_load"):
        figs.load_figure(pd.DataFrame({"x": [1]}))
    with pytest.raises(TypeError):
        figs.load_figure([1, 2])


def test_entropy_figure_summarises_per_token_frames():
    probs = torch.zeros(1, 6, 4)
    probs[0, :, :2] = 0.5
    per_token = routing_entropy(hand_trace(probs=probs))
    a = figs.entropy_figure(per_token)
    b = figs.entropy_figure(routing_entropy(hand_trace(probs=probs), per="layer"))
    assert a.data[0].y[0] == pytest.approx(math.log(2)) == b.data[0].y[0]


def test_coactivation_figure_subset_in_given_order():
    frame = coactivation(hand_trace(), layer=5)
    fig = figs.coactivation_figure(frame, experts=[1, 0])
    assert list(fig.data[0].x) == ["1", "0"]
    assert fig.data[0].z[0][1] == pytest.approx(1.0)  # C[1, 0]
    assert fig.data[0].z[1][0] == pytest.approx(3 / 4)  # C[0, 1]
    assert len(figs.coactivation_figure(frame, top=3).data[0].x) == 3
    with pytest.raises(ValueError, match="out of range"):
        figs.coactivation_figure(frame, experts=[9])


def test_repetition_saturation_label_vocabulary_figures():
    fig = figs.repetition_figure(consecutive_repetition(hand_trace()))
    assert fig.data[0].y[0] == pytest.approx(1 / 4) and fig.data[1].y[0] == pytest.approx(2 / 4)
    steps = pd.concat([router_saturation(hand_trace(), hand_trace()).assign(step=s) for s in (100, 200)])
    assert len(figs.saturation_figure(steps, by="step").data) == 2
    spec = label_specialization(hand_trace(), {0: "<b>a</b>", 1: "b"})
    fig = figs.label_figure(spec)
    assert "&lt;b&gt;a&lt;/b&gt;" in list(fig.data[0].y)  # untrusted label text escaped
    assert fig.data[0].z[list(fig.data[0].y).index("&lt;b&gt;a&lt;/b&gt;")][0] == pytest.approx(1.5)
    tokens = ["<script>", "x", "y", "z", "w", "v"]
    fig = figs.vocabulary_figure(vocabulary_specialization(hand_trace(tokens=tokens)))
    assert not any("<script>" in label for label in fig.data[0].y)
    with pytest.raises(ValueError, match="not in this frame"):
        figs.vocabulary_figure(vocabulary_specialization(hand_trace()), layer=2)


def test_active_params_figure():
    import transformers

    from qnext_lab.analysis import active_parameters

    config = transformers.OlmoeConfig(
        vocab_size=64,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        intermediate_size=16,
        num_experts=8,
        num_experts_per_tok=2,
    )
    frame = active_parameters(config)
    fig = figs.active_params_figure(frame)
    routed = list(fig.data[0].x).index("routed experts")
    assert fig.data[0].y[routed] == 2 * 8 * 3 * 16 * 32 and fig.data[1].y[routed] == 2 * 2 * 3 * 16 * 32
