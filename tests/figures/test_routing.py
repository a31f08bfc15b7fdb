"""Routing figure builders: the data a reader sees (cells, hover text, colours, phases, windows)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qnext_lab.figures.palette import expert_color, expert_colors, expert_colorscale
from qnext_lab.figures.routing import (
    expert_heatmap,
    expert_load_bars,
    layer_map,
    phase_runs,
    routing_text_html,
    window_bounds,
)

XSS = "<img src=x onerror=alert(1)>"  # a token that must always show as text


def test_expert_heatmap_cells_are_the_routing_weights(trace, grid_of):
    fig = expert_heatmap(trace, layer=3)  # decoder layer 3 = the second captured layer (routing offset 1)
    heat = fig.data[0]
    assert len(heat.z) == 40 * 2  # one point per chosen cell (column format), every expert has a row here
    z = grid_of(fig)  # (E, N)
    assert z.shape == (8, 40)
    for n in (0, 7, 39):
        chosen = {(n + 1) % 8: 0.7, (n + 2) % 8: 0.3}
        for e in range(8):
            if e in chosen:
                assert z[e, n] == pytest.approx(chosen[e])
            else:
                assert math.isnan(z[e, n])
    assert sorted(set(heat.x)) == list(range(40))
    assert "layer 3" in fig.layout.title.text
    assert expert_heatmap(trace).layout.title.text == expert_heatmap(trace, layer=1).layout.title.text  # default


def test_expert_heatmap_hover_names_token_position_expert_weight_rank(trace):
    heat = expert_heatmap(trace, layer=1).data[0]
    hover = {(int(x), int(y)): t for x, y, t in zip(heat.x, heat.y, heat.text)}
    text = hover[(3, 4)]  # token 3, first captured layer: rank 0 expert 3, rank 1 expert 4
    assert "tok3" in text and "position 3" in text and "expert 4 · rank 1" in text and "weight 0.300" in text
    assert "phase prompt" in text
    assert (3, 0) not in hover  # expert 0 was not chosen for token 3: a gap, no hover


def test_every_expert_keeps_its_row_even_when_unused_in_the_window(make_trace, grid_of):
    trace = make_trace(num_tokens=40, num_experts=16)
    fig = expert_heatmap(trace, layer=1, window=(0, 4))  # tokens 0..3 use experts 0..4 only
    assert sorted(set(int(y) for y in fig.data[0].y)) == list(range(16))
    assert np.isnan(grid_of(fig)[10]).all()


def test_token_text_is_escaped_in_hover_and_ticks(trace):
    fig = expert_heatmap(trace, layer=1, window=(0, 20))
    payload = fig.to_json()
    assert XSS not in payload and "<img" not in payload
    assert any("&lt;img src=x onerror=alert(1)&gt;" in t for t in fig.data[0].text)
    assert fig.layout.xaxis.ticktext[5].startswith("&lt;img src=x")  # shortened, still escaped
    assert fig.layout.xaxis.ticktext[6] == "↵"


def test_phases_are_marked_with_bands_and_boundaries(trace):
    fig = expert_heatmap(trace, layer=1)
    names = [s.name for s in fig.layout.shapes]
    assert names == ["phase:prompt", "phase:thinking", "phase-start:thinking", "phase:answer", "phase-start:answer"]
    band = fig.layout.shapes[1]
    assert (band.x0, band.x1) == (12.5, 25.5)  # rows 13..25 are thinking
    assert [a.text for a in fig.layout.annotations] == ["prompt", "thinking", "answer"]
    assert phase_runs(np.array([0, 0, 1, 1, 1, 2])) == [(0, 0, 1), (1, 2, 4), (2, 5, 5)]


def test_window_limits_the_columns_and_clamps_at_the_end(make_trace):
    trace = make_trace(num_tokens=5000)
    fig = expert_heatmap(trace, layer=1, window=window_bounds(5000, 4900, 512))
    assert sorted(set(fig.data[0].x)) == list(range(4488, 5000))
    assert len(fig.data[0].z) == 512 * 2
    assert window_bounds(100, 50, None) == (0, 100)
    assert window_bounds(100, -5, 10) == (0, 10)
    with pytest.raises(ValueError, match="outside the trace"):
        expert_heatmap(trace, layer=1, window=(0, 6000))


def test_layer_map_colours_each_cell_by_its_top1_expert(trace):
    fig = layer_map(trace)
    z = np.asarray(fig.data[0].z)
    assert z.shape == (3, 40)  # (L, N)
    assert z[2, 10] == (10 + 2) % 8
    assert list(fig.data[0].y) == ["L1", "L3", "L5"]
    scale = expert_colorscale(8)
    zmin, zmax = fig.data[0].zmin, fig.data[0].zmax
    for e in range(8):  # the colour at value e is expert e's colour
        frac = (e - zmin) / (zmax - zmin)
        step = [c for pos, c in scale if pos <= frac][-1]
        assert step == expert_color(e, 8)
    assert "top-1 expert 2" in fig.data[0].text[2][8]


def test_load_bars_share_sums_to_one_with_uniform_line(trace):
    fig = expert_load_bars(trace, layer=5)
    assert [bar.name for bar in fig.data] == ["prompt", "thinking", "answer"]
    total = sum(np.asarray(bar.y) for bar in fig.data)
    assert total.sum() == pytest.approx(1.0)
    assert fig.layout.shapes[0].y0 == pytest.approx(1 / 8)
    assert sum(np.asarray(bar.customdata) for bar in fig.data).sum() == 40 * 2
    # the bars are analysis.expert_load's shares of decoder layer 5 (one home for expert load)
    from qnext_lab.analysis import expert_load

    np.testing.assert_allclose(total, expert_load(trace, layers=5)["share"].to_numpy())
    assert "layer 5" in fig.layout.title.text


def test_load_bars_without_phases_use_expert_colours(make_trace):
    fig = expert_load_bars(make_trace(phases=False), layer=1)
    assert list(fig.data[0].marker.color) == list(expert_colors(8))


def test_routing_text_colours_tokens_by_top1_expert_and_escapes(trace):
    html = routing_text_html(trace, layer=1)
    assert html.count('class="qnext-token"') == 40
    assert XSS not in html and "<img" not in html
    assert "&lt;img&nbsp;src=x&nbsp;onerror=alert(1)&gt;" in html
    span = html.split('class="qnext-token"')[4]  # token 3 -> top-1 expert 3
    assert 'data-expert="3"' in span and f"background:{expert_color(3, 8)}" in span
    assert html.index("[thinking]") < html.index("[answer]")


def test_layer_is_the_decoder_index_and_an_uncaptured_one_is_refused(trace):
    # decoder layers 1, 3, 5 are captured: layer=5 is the third, and names the same layer as trace.layer(5)
    only = trace.layer(5)
    assert routing_text_html(trace, layer=5) == routing_text_html(only, layer=5)
    assert 'data-expert="2"' in routing_text_html(trace, layer=5).split('class="qnext-token"')[1]  # (0 + 2) % 8
    with pytest.raises(ValueError, match=r"layer 2 was not captured.*\[1, 3, 5\]"):
        expert_heatmap(trace, layer=2)
    for builder in (expert_load_bars, routing_text_html):
        with pytest.raises(ValueError, match="not captured"):
            builder(trace, layer=0)
    with pytest.raises(TypeError, match="decoder-layer index"):
        expert_heatmap(trace, layer=1.0)


def test_palette_gives_distinct_colours_even_for_512_experts():
    assert len(set(expert_colors(16))) == 16
    assert len(set(expert_colors(512))) == 512


def test_a_live_widget_can_send_every_figure_as_json(make_trace):
    """A FigureWidget sends 2-D arrays as JSON lists, where NaN is not allowed (the message would be dropped and
    the plot left blank in JupyterLab); 1-D numeric arrays go as binary buffers, where NaN is fine."""
    import json

    from plotly.serializers import _py_to_js

    from qnext_lab.figures.alignment import alignment_figure
    from qnext_lab.kernels import align_reference

    trace = make_trace()
    figs = [
        expert_heatmap(trace, 1),
        layer_map(trace),
        expert_load_bars(trace, 1),
        alignment_figure(align_reference(trace.topk_ids[0], 8, 16, decode_path=False), top_k=2, num_experts=8),
    ]
    for fig in figs:
        message = _py_to_js(fig.to_plotly_json(), None)
        json.dumps(message, allow_nan=False, default=lambda buffer: None)


def test_token_text_is_thinned_to_what_the_width_can_hold(make_trace):
    trace = make_trace(num_tokens=69)
    wide = expert_heatmap(trace, layer=1, width_px=1200)
    assert list(wide.layout.xaxis.tickvals) == list(range(69))  # every token labelled
    narrow = expert_heatmap(trace, layer=1, width_px=500)
    ticks = list(narrow.layout.xaxis.tickvals)
    assert 1 < ticks[1] - ticks[0] and len(ticks) * 12 <= 500 - 110 + 12
    assert "1 token in" in narrow.layout.xaxis.title.text
    assert len(narrow.data[0].text) >= 69 * 2  # hover still names every token


def test_phase_names_that_do_not_fit_are_left_out_and_sequences_are_marked(trace):
    from qnext_lab.trace.routing_trace import RoutingTrace

    many = RoutingTrace.concat([trace] * 6)  # 240 tokens, six problems
    fig = expert_heatmap(many, layer=1, width_px=600)
    starts = [s for s in fig.layout.shapes if s.name == "sequence-start"]
    assert [s.x0 for s in starts] == [39.5, 79.5, 119.5, 159.5, 199.5]
    px = (600 - 110) / 240
    for a in fig.layout.annotations:  # every name shown fits inside its own run
        if a.name and a.name.startswith("phase-label"):
            assert len(a.text) * 7 <= 14 * px * 2  # runs are 13-14 tokens long
    labels = [a.text for a in fig.layout.annotations]
    assert "thinking" not in labels  # 13 tokens x 2 px cannot hold the word: hover tells the phase
