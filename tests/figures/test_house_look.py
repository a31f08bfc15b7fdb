"""Every builder's figure follows the page (transparent, text and weight scale for the theme, readable on
either when the theme is unknown), keeps its title clear of the toolbar, labels expert axes readably, and
speaks the caller's words; the one number formatter writes every quantity with its unit."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest
import torch
from figure_data import sweep_frame

from qnext_lab.figures import numbers
from qnext_lab.figures.agent import phase_lift_figure
from qnext_lab.figures.alignment import alignment_figure, padding_waste_figure
from qnext_lab.figures.analysis import load_figure
from qnext_lab.figures.budget import budget_curve
from qnext_lab.figures.compare import expert_use_difference, expert_use_figure
from qnext_lab.figures.routing import expert_heatmap, expert_load_bars, expert_ticks, layer_map
from qnext_lab.figures.theme import TOOLBAR_PX, TOOLBAR_REMOVE, WEIGHTS_DARK, WEIGHTS_LIGHT, finish, template
from qnext_lab.kernels.align import align_reference


def _luminance(hex_colour: str) -> float:
    r, g, b = (int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _figures(trace):
    from qnext_lab.analysis.load import expert_load

    aligned = align_reference(trace.topk_ids[0], trace.num_experts, 4, decode_path=False)
    return {
        "expert_heatmap": expert_heatmap(trace, 1),
        "layer_map": layer_map(trace),
        "load_bars": expert_load_bars(trace, 1),
        "difference": expert_use_difference(trace, trace),
        "use": expert_use_figure(trace),
        "budget": budget_curve(sweep_frame()),
        "alignment": alignment_figure(aligned, top_k=trace.top_k, num_experts=trace.num_experts),
        "padding": padding_waste_figure({4: 96, 8: 112}, 80),
        "load": load_figure(expert_load(trace)),
        "lift": phase_lift_figure(trace),
    }


def test_every_figure_is_transparent_and_not_a_white_slab(trace):
    for name, fig in _figures(trace).items():
        look = fig.layout.template.layout
        assert look.paper_bgcolor == "rgba(0,0,0,0)" and look.plot_bgcolor == "rgba(0,0,0,0)", name
        assert fig.layout.paper_bgcolor is None and fig.layout.plot_bgcolor is None, name  # no slab of its own
        assert look.font.color == template().layout.font.color, name  # readable on light and on dark


def test_titles_sit_top_left_below_the_toolbar_strip(trace):
    """The top TOOLBAR_PX of every figure is left to plotly's toolbar (tests/browser measures it drawn)."""
    for name, fig in _figures(trace).items():
        assert fig.layout.margin.t >= TOOLBAR_PX, name
        if fig.layout.title.text:
            title = fig.layout.title
            assert title.x == 0 and title.xanchor == "left", name
            assert title.yref == "container" and title.yanchor == "top" and title.pad.t >= TOOLBAR_PX, name
            assert fig.layout.margin.t >= TOOLBAR_PX + 24, name
        assert list(fig.layout.template.layout.modebar.remove) == list(TOOLBAR_REMOVE), name  # the slim toolbar


def test_finish_is_idempotent_and_keeps_the_plot_area(trace):
    fig = expert_use_difference(trace, trace)
    before = (fig.layout.margin.t, fig.layout.height, fig.layout.title.pad.t)
    finish(fig)
    assert (fig.layout.margin.t, fig.layout.height, fig.layout.title.pad.t) == before
    own = go.Figure(go.Scatter(y=[1, 2]), layout=dict(title="t", height=300, margin=dict(t=40, b=20)))
    finish(own)  # a notebook's own figure: the strip is added on top, the plot area keeps its 240 px
    assert own.layout.height - own.layout.margin.t - own.layout.margin.b == 240


def test_the_strongest_weight_stands_out_on_each_page(trace):
    fig = expert_heatmap(trace, 1)
    assert fig.data[0].coloraxis == "coloraxis" and fig.layout.coloraxis.colorscale is None  # from the template
    light, dark = template(False).layout.coloraxis.colorscale, template(True).layout.coloraxis.colorscale
    assert [c for _, c in light] == [c for _, c in WEIGHTS_LIGHT] and [c for _, c in dark] == [
        c for _, c in WEIGHTS_DARK
    ]
    assert _luminance(WEIGHTS_LIGHT[-1][1]) < 0.2  # dark on a white page
    assert _luminance(WEIGHTS_DARK[-1][1]) > 0.8  # bright on a near-black page (navy was invisible there)


def test_expert_axes_are_labelled_at_most_sixteen_times():
    for experts in (8, 16, 32, 64, 512):
        ticks = expert_ticks(experts)
        assert experts / ticks["dtick"] <= 16


def test_the_alignment_figure_names_experts_instead_of_a_colour_bar(trace):
    aligned = align_reference(trace.topk_ids[0], trace.num_experts, 4, decode_path=False)
    fig = alignment_figure(aligned, top_k=trace.top_k, num_experts=trace.num_experts)
    assert fig.data[0].showscale is False
    assert all(": expert " in t for t in fig.layout.yaxis.ticktext)


def test_phase_lift_titles_are_short_lines_and_say_what_they_count(trace):
    fig = phase_lift_figure(trace)
    titles = [a.text for a in fig.layout.annotations]
    assert titles and all("<br>" in t and "routed tokens" in t for t in titles)


def test_the_budget_curve_legend_stays_off_the_axis_title_and_speaks_the_callers_words():
    fig = budget_curve(sweep_frame())
    assert fig.layout.legend.y >= 1 and fig.layout.legend.yanchor == "bottom"  # above the plot, not on the x title
    ja = budget_curve(
        sweep_frame(), words={"budget_axis": "思考予算", "accuracy": "正解率", "thinking_line": "思考あり"}
    )
    assert ja.layout.xaxis.title.text == "思考予算" and ja.layout.yaxis.title.text == "正解率"
    assert ja.data[0].name == "思考あり"
    with pytest.raises(ValueError, match="label keys"):
        budget_curve(sweep_frame(), words={"nonsense": "x"})


def test_routing_figures_speak_the_callers_words(trace):
    fig = expert_heatmap(trace, 1, words={"expert": "エキスパート", "phase_thinking": "思考"})
    assert fig.layout.yaxis.title.text == "エキスパート"
    assert "思考" in [a.text for a in fig.layout.annotations]


@pytest.mark.parametrize(
    ("call", "text"),
    [
        (lambda: numbers.seconds_text(0.0412), "41 ms"),
        (lambda: numbers.seconds_text(0.47), "0.47 s"),
        (lambda: numbers.seconds_text(125), "2 min 05 s"),
        (lambda: numbers.rate_text(4, 0.04), "100 tokens/s"),
        (lambda: numbers.count_text(1572864), "1,572,864"),
        (lambda: numbers.count_text(1572864, short=True), "1.57 M"),
        (lambda: numbers.bytes_text(1572864), "1.50 MiB"),
        (lambda: numbers.bytes_text(3 * 2**30), "3.00 GiB"),
        (lambda: numbers.share_text(0.647), "65%"),
        (lambda: numbers.number_text(6.56e-07), "6.6 × 10⁻⁷"),
        (lambda: numbers.number_text(0.12345), "0.12"),
        (lambda: numbers.number_text(torch.tensor(2.5).item()), "2.5"),
    ],
)
def test_numbers_are_written_one_way_with_units(call, text):
    assert call() == text


def test_numbers_refuse_what_is_not_a_number():
    with pytest.raises(TypeError, match="number"):
        numbers.seconds_text("1")
    with pytest.raises(TypeError, match="bool"):
        numbers.count_text(True)
    assert numbers.rate_text(4, 0) == "–" and isinstance(go.Figure(), go.Figure)
