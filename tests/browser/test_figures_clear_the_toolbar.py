"""The kit's figures drawn by plotly.js in headless Chromium, without Jupyter: no title, subplot title, axis title
or legend text under plotly's toolbar, at the width of a notebook's output area at 1024 px (592 px) and of a
narrow pane (400 px), as a kit view draws them (PlotPane's config and width) and as a notebook cell shows its own
figure after ``ql.figures.finish`` (plotly's default config, width from the pane).

The geometry check is the real-browser notebook test's own (``_FIGURES``); this runs in seconds, so the house
rule (``figures.theme.finish``: a toolbar strip at the top of every figure) is checked on the builders the
notebooks and views draw (titles of one, two and three lines, subplot titles, legends above the plot) without
running a notebook. Uses the same Chromium as the notebook test (skipped without /usr/bin/chromium).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import plotly
import plotly.graph_objects as go
import plotly.io as pio
import pytest
import torch
from figure_data import sweep_frame
from plotly.subplots import make_subplots
from test_notebooks_in_browser import _FIGURES  # the notebook test's geometry check, one copy

from qnext_lab.analysis.cache_replay import cache_misses, expert_cache
from qnext_lab.analysis.drift import routing_drift
from qnext_lab.analysis.load import expert_load, load_balance
from qnext_lab.analysis.specialisation_test import expert_specialisation, routing_overlap
from qnext_lab.figures.agent import phase_lift_figure
from qnext_lab.figures.alignment import alignment_figure, padding_waste_figure
from qnext_lab.figures.analysis import balance_figure, drift_figure, load_figure
from qnext_lab.figures.article import throughput_ratio_figure
from qnext_lab.figures.budget import budget_curve, mark_budget
from qnext_lab.figures.compare import expert_use_difference, expert_use_figure
from qnext_lab.figures.offload import hit_rate_figure, miss_heatmap
from qnext_lab.figures.parallel import flips_figure, split_budget_figure
from qnext_lab.figures.routing import expert_heatmap, expert_load_bars, layer_map
from qnext_lab.figures.specialisation import overlap_figure, specialisation_figure
from qnext_lab.figures.theme import finish
from qnext_lab.kernels.align import align_reference
from qnext_lab.trace.routing_trace import RoutingTrace
from qnext_lab.widgets.plot_pane import CONFIG

pytestmark = pytest.mark.browser

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
WIDTHS = (592, 400)  # a notebook's output area at 1024 px; a narrow pane (a lab() tab, a split window)
LONG = "qnext-tiny: accuracy vs thinking budget (48 problems), a title as long as a notebook's longest"


def _split() -> pd.DataFrame:
    rows = [
        dict(
            problem=p,
            total_budget=t,
            chains=n,
            right=(p + t + n) % 3 > 0,
            voted=str(p * t),
            family="add",
            question=f"What is {p} + {t}?",
        )  # fmt: skip
        for p in range(6)
        for t in (16, 32, 64)
        for n in (1, 2, 4)
    ]
    return pd.DataFrame(rows)


def _throughput() -> pd.DataFrame:
    return pd.DataFrame(
        [dict(context=c, batch=b, ratio=(c / 4096) ** 0.5 * 12 / b**0.3) for c in (4096, 32768) for b in (1, 4, 16)]
    )


def _notebook_subplots() -> go.Figure:
    """Notebook 08's own figure: three subplot titles, a tight top margin, no title."""
    fig = make_subplots(
        rows=1, cols=3, subplot_titles=("decode time per token (ms)", "prefill time (s)", "cache (MiB)")
    )
    for col in (1, 2, 3):
        fig.add_scatter(x=[256, 1024, 4096], y=[1, 2, 4], row=1, col=col, name=f"panel {col}")
    fig.update_layout(height=360, margin=dict(t=40, b=40, l=40, r=10), legend=dict(orientation="h", y=-0.25))
    return finish(fig)


def _notebook_titled() -> go.Figure:
    """Notebook 04/10's own figures: a long title, plotly's default margins, a white template of their own."""
    fig = go.Figure(go.Scatter(x=[1, 2, 3], y=[0.2, 0.5, 0.7], name="qnext-tiny"))
    fig.update_layout(title=LONG, template="plotly_white", height=380, legend=dict(orientation="h", y=-0.25))
    return finish(fig)


def _families_trace() -> tuple[RoutingTrace, list[str]]:
    """Eight sequences of two task families (notebook 12's question), random top-2 of 8 experts, two layers."""
    g = torch.Generator().manual_seed(0)
    seqs, length, layers = 8, 6, 2
    ids = torch.stack([torch.rand(layers, 8, generator=g).argsort()[:, :2] for _ in range(seqs * length)], dim=1)
    trace = RoutingTrace(
        topk_ids=ids,  # (L, N, 2)
        topk_weights=torch.full((layers, seqs * length, 2), 0.5),
        token_ids=torch.zeros(seqs * length, dtype=torch.long),
        seq_index=torch.arange(seqs).repeat_interleave(length),
        position=torch.arange(length).repeat(seqs),
        layer_indices=[1, 3],
        num_experts=8,
        top_k=2,
    )
    return trace, ["add" if s % 2 == 0 else "count" for s in range(seqs)]


def _kit_figures(trace, width_px: int) -> dict[str, go.Figure]:
    """Every builder's figure, drawn for a pane ``width_px`` wide where the builder takes the width."""
    aligned = align_reference(trace.topk_ids[0], trace.num_experts, 4, decode_path=False)
    curve = budget_curve(sweep_frame(), title=LONG)
    mark_budget(curve, 4)
    caches = {p: expert_cache(trace, 4, p) for p in ("lru", "belady")}
    families = _families_trace()
    marked = dataclasses.replace(trace, hash_layers=[1], zero_experts=2)  # DeepSeek-V4 / LongCat-Flash marks
    drift = pd.concat([routing_drift(trace, trace).assign(format=f) for f in ("Q8_0", "Q4_0")])
    return {
        "expert_heatmap": expert_heatmap(trace, 1, title=LONG, width_px=width_px),
        "layer_map": layer_map(trace, width_px=width_px),
        "load_bars": expert_load_bars(trace, 1),
        "difference": expert_use_difference(trace, trace),
        "use": expert_use_figure(trace),
        "budget_curve": curve,
        "alignment": alignment_figure(aligned, top_k=trace.top_k, num_experts=trace.num_experts),
        "padding": padding_waste_figure({4: 96, 8: 112}, 80),
        "load": load_figure(expert_load(trace)),
        "drift": drift_figure(drift, by="format", title="Routing drift per layer (0 = routes as the reference)"),
        "lift": phase_lift_figure(trace),
        "split": split_budget_figure(_split(), title=LONG),
        "flips": flips_figure(_split(), chains=4),
        "throughput": throughput_ratio_figure(_throughput(), batch=1),
        "hit_rate": hit_rate_figure(caches, current="lru"),
        "specialisation": specialisation_figure(expert_specialisation(*families, permutations=20, seed=0), layer=1),
        "overlap": overlap_figure(routing_overlap(*families, permutations=20, seed=0)),
        "balance": balance_figure(load_balance(trace)),
        "heatmap, hash-routed": expert_heatmap(marked, 1, width_px=width_px),  # a subtitle under the title
        "layer_map, zero experts": layer_map(marked, width_px=width_px),  # a subtitle, a legend from the top
        "miss_heatmap": miss_heatmap(trace, cache_misses(trace, 4, "lru"), 1, width_px=width_px),
    }


@pytest.fixture(scope="module")
def plot_page(browser):
    page = browser.new_page(viewport={"width": 1024, "height": 768})
    page.set_content(f"<html><body style='margin:0'><script>{PLOTLY_JS.read_text()}</script></body></html>")
    yield page
    page.close()


def _draw(page, fig: go.Figure, pane_px: int, config: dict, width_px: int | None) -> dict:
    """``fig`` drawn in a fresh pane ``pane_px`` wide (``width_px``: the layout width a PlotPane gives it)."""
    spec = json.loads(pio.to_json(fig, validate=False))
    if width_px:
        spec["layout"]["width"] = width_px
    return page.evaluate(
        """async ([spec, pane, config, check]) => {
            document.body.innerHTML = '';
            const box = document.createElement('div');
            box.style.width = pane + 'px';
            document.body.appendChild(box);
            const div = document.createElement('div');
            box.appendChild(div);
            await Plotly.newPlot(div, spec.data, spec.layout, config);
            return eval(check)(document.body)[0];
        }""",
        [spec, pane_px, config, _FIGURES],
    )


def test_no_text_under_the_toolbar_in_any_kit_figure(plot_page, known_trace_builder):
    trace = known_trace_builder(num_layers=3, layer_indices=[1, 3, 5])
    failures = []
    for pane in WIDTHS:
        figures = {
            **_kit_figures(trace, pane - 6),
            "notebook subplots": _notebook_subplots(),
            "notebook titled": _notebook_titled(),
        }
        for name, fig in figures.items():
            try:
                as_view = _draw(plot_page, fig, pane, CONFIG, pane - 6)  # PlotPane: its config, the pane's width
                as_cell = _draw(plot_page, fig, pane, {}, None)  # a notebook cell: plotly's defaults (logo too)
            except Exception as e:  # plotly.js refused to draw it
                failures.append(f"{name} at {pane} px: not drawn: {str(e)[:120]}")
                continue
            for how, got in (("view", as_view), ("cell", as_cell)):
                if got["under"]:
                    failures.append(f"{name} at {pane} px as a {how}: {got['under']}")
                if got["svg"] > pane + 1:
                    failures.append(f"{name} at {pane} px as a {how}: {got['svg']:.0f} px wide")
    assert not failures, "\n".join(failures)


def test_the_toolbar_is_the_slim_one(plot_page, known_trace_builder):
    """Zoom, pan, reset and the PNG download: no lasso, box select or zoom-in/out buttons crowding the corner."""
    fig = budget_curve(sweep_frame())
    _draw(plot_page, fig, 592, CONFIG, 586)
    buttons = plot_page.evaluate(
        "() => Array.from(document.querySelectorAll('.modebar-btn')).map(b => b.getAttribute('data-val')"
        " || b.getAttribute('data-title'))"
    )
    assert len(buttons) <= 5, buttons
    assert not any("asso" in str(b) or "elect" in str(b) for b in buttons), buttons
