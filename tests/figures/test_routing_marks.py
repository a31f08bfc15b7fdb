"""Routing that no router chose is shown as such: hash-routed layers (DeepSeek-V4) and zero-computation experts
(LongCat-Flash) on traces captured from small random models of those families, and a plain Qwen3-MoE trace
without any of those marks."""

from __future__ import annotations

import gc
import math

import numpy as np
import pytest
import torch
from random_moe import random_moe

from qnext_lab.figures.routing import LABELS, expert_heatmap, expert_load_bars, layer_map, routing_text_html
from qnext_lab.trace.capturing import capture
from qnext_lab.trace.routing_trace import RoutingTrace
from qnext_lab.widgets.routing_heatmap import RoutingHeatmap


def _captured(model_type: str) -> RoutingTrace:
    """A 24-token trace of a small random ``model_type`` (the model is freed before the trace is returned)."""
    model = random_moe(model_type)
    ids = torch.randint(0, model.config.vocab_size, (1, 24), generator=torch.Generator().manual_seed(1))
    with torch.no_grad(), capture(model) as trace:
        model(ids)
    del model
    gc.collect()
    return trace


@pytest.fixture(scope="module")
def v4_trace() -> RoutingTrace:
    return _captured("deepseek_v4")


@pytest.fixture(scope="module")
def longcat_trace() -> RoutingTrace:
    return _captured("longcat_flash")


@pytest.fixture(scope="module")
def plain_trace() -> RoutingTrace:
    return _captured("qwen3_moe")


def _subtitle(fig) -> str | None:
    return fig.layout.title.subtitle.text


def _shape_names(fig) -> list[str]:
    return [s.name for s in fig.layout.shapes]


def test_hash_routed_layers_say_so_and_router_layers_do_not(v4_trace):
    assert v4_trace.hash_layers, "the registry marks DeepSeek-V4's early layers hash-routed"
    routed = [i for i in v4_trace.layer_indices if i not in v4_trace.hash_layers]
    assert routed, "the tiny DeepSeek-V4 keeps at least one router-routed layer"
    for layer in v4_trace.hash_layers:
        fig = expert_heatmap(v4_trace, layer=layer)
        assert _subtitle(fig) == LABELS["hash_routed"]
        hover = [t for t in fig.data[0].text if t]
        assert hover and all("hash-routed" in t for t in hover)
    fig = expert_heatmap(v4_trace, layer=routed[0])
    assert _subtitle(fig) is None
    assert not any("hash-routed" in t for t in fig.data[0].text)
    ticks = list(layer_map(v4_trace).data[0].y)
    assert ticks == [f"L{i} · hash" if i in v4_trace.hash_layers else f"L{i}" for i in v4_trace.layer_indices]


def test_hash_routed_heatmap_keeps_every_pick_even_a_repeated_expert(v4_trace, grid_of):
    layer = v4_trace.hash_layers[0]
    fig = expert_heatmap(v4_trace, layer=layer)
    grid = grid_of(fig)  # (E, N)
    pos = v4_trace.layer_indices.index(layer)
    ids, weights = v4_trace.topk_ids[pos].numpy(), v4_trace.topk_weights[pos].numpy()  # (N, k)
    for n in range(v4_trace.num_tokens):
        expected = {}
        for e, w in zip(ids[n].tolist(), weights[n].tolist()):
            expected[e] = expected.get(e, 0.0) + w  # the combine adds an expert named twice twice
        for e in range(v4_trace.num_experts):
            if e in expected:
                assert grid[e, n] == pytest.approx(expected[e], abs=1e-6)
            else:
                assert math.isnan(grid[e, n])


def test_an_expert_named_twice_by_the_hash_table_is_one_cell_with_both_ranks():
    trace = RoutingTrace(
        topk_ids=torch.tensor([[[3, 3], [1, 2]]], dtype=torch.int32),  # (L=1, N=2, k=2): token 0 names 3 twice
        topk_weights=torch.tensor([[[0.25, 0.5], [0.6, 0.4]]]),
        token_ids=torch.tensor([5, 6]),
        seq_index=torch.zeros(2, dtype=torch.int32),
        position=torch.arange(2, dtype=torch.int32),
        layer_indices=[0],
        num_experts=4,
        top_k=2,
        hash_layers=[0],
    )
    heat = expert_heatmap(trace, layer=0).data[0]
    cells = {(int(x), int(y)): (z, t) for x, y, z, t in zip(heat.x, heat.y, heat.z, heat.text) if z == z}
    assert set(cells) == {(0, 3), (1, 1), (1, 2)}
    z, text = cells[(0, 3)]
    assert z == pytest.approx(0.75) and "ranks 0, 1 (named 2× by the table)" in text and "weight 0.750" in text


def test_zero_computation_picks_are_drawn_apart_with_a_legend_entry(longcat_trace, grid_of):
    t = longcat_trace
    assert t.zero_experts > 0
    first_zero = t.num_experts - t.zero_experts
    for layer in t.layer_indices:
        pos = t.layer_indices.index(layer)
        ids = t.topk_ids[pos].numpy()  # (N, k)
        fig = expert_heatmap(t, layer=layer)
        assert np.isnan(grid_of(fig)[first_zero:]).all()  # no weight-coloured cell on a zero-computation expert
        assert len(fig.data) == 2 and fig.data[1].type == "scatter"
        marks = fig.data[1]
        assert marks.name.startswith(LABELS["zero_pick"]) and fig.layout.showlegend
        rows, ranks = np.nonzero(ids >= first_zero)
        assert sorted(zip(marks.x.tolist(), marks.y.tolist())) == sorted(zip(rows.tolist(), ids[rows, ranks].tolist()))
        assert all("zero-computation" in text for text in marks.text)
        assert "zero-computation-experts" in _shape_names(fig)
        assert _subtitle(fig) is None  # LongCat routes every layer with its router
    assert int((t.topk_ids >= first_zero).sum()) > 0, "the tiny LongCat picks a zero-computation expert"
    assert "zero-computation-experts" in _shape_names(expert_load_bars(t))
    assert _subtitle(layer_map(t)) == LABELS["zero_note"].format(first=first_zero, last=t.num_experts - 1)
    html = routing_text_html(t)
    top1 = t.topk_ids[0, :, 0]
    assert html.count("(zero-computation)") == int((top1 >= first_zero).sum())


def test_widget_header_names_hash_layers_and_zero_experts(v4_trace, longcat_trace, plain_trace):
    assert "hash-routed layers" in RoutingHeatmap(v4_trace).header.value
    assert "zero-computation" in RoutingHeatmap(longcat_trace).header.value
    plain = RoutingHeatmap(plain_trace)
    assert "hash-routed" not in plain.header.value and "zero-computation" not in plain.header.value
    japanese = RoutingHeatmap(v4_trace, language="ja")
    assert "ハッシュ" in japanese.header.value and "ハッシュ" in str(japanese.heatmap.figure.layout.title.subtitle.text)


def test_a_router_routed_trace_carries_none_of_these_marks(plain_trace):
    assert not plain_trace.hash_layers and plain_trace.zero_experts == 0
    for layer in plain_trace.layer_indices:
        fig = expert_heatmap(plain_trace, layer=layer)
        assert len(fig.data) == 1 and _subtitle(fig) is None and not fig.layout.showlegend
        assert "zero-computation-experts" not in _shape_names(fig)
        assert not any("hash" in t or "zero-computation" in t for t in fig.data[0].text)
    plain_map = layer_map(plain_trace)
    assert all("hash" not in y for y in plain_map.data[0].y) and _subtitle(plain_map) is None
    assert "zero-computation" not in routing_text_html(plain_trace)
