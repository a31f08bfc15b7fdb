"""The page's theme and pane width, reported by PageWatch, restyle and re-lay-out the live figures."""

from __future__ import annotations

import numpy as np

from qnext_lab.figures.theme import template
from qnext_lab.widgets.routing_heatmap import RoutingHeatmap


def test_dark_theme_restyles_the_live_figures_in_place(trace):
    view = RoutingHeatmap(trace)
    heatmap = view.heatmap
    assert view.heatmap.layout.template.layout.font.color == template(False).layout.font.color
    view.page.dark = True  # as PageWatch's JavaScript reports JupyterLab Dark
    assert view.heatmap is heatmap
    for figure in (view.heatmap, view.load_bars):
        assert figure.layout.template.layout.font.color == "#e6e6e6"
        assert figure.layout.template.layout.paper_bgcolor == "rgba(0,0,0,0)"  # the page shows through
    assert "plot_bgcolor" not in view.heatmap.layout.to_plotly_json()  # no white slab of its own
    view.close()


def test_a_narrow_pane_thins_the_token_labels_and_the_layers_view_disables_the_layer_slider(make_trace):
    view = RoutingHeatmap(make_trace(num_tokens=60))
    assert len(view.heatmap.layout.xaxis.tickvals) == 60  # 900 px assumed until the browser says otherwise
    view.page.width = 420  # a half-width pane on a projector
    ticks = view.heatmap.layout.xaxis.tickvals
    assert len(ticks) < 60 and ticks[1] - ticks[0] > 1
    assert not view.layer_slider.disabled
    view.mode = "layers"
    assert view.layer_slider.disabled and view.heatmap.layout.showlegend is not False
    assert not view.heatmap.data[0].showscale and len(view.heatmap.data) > 1  # a legend, not a colour bar
    view.close()


def test_once_drawn_the_figures_are_made_anew_at_the_panes_width(trace, grid_of):
    view = RoutingHeatmap(trace)
    old = view.heatmap
    expected = grid_of(view.heatmap)
    view.page.width = 560  # the browser drew the view in a 560 px pane
    assert view.heatmap is not old and old.comm is None  # replaced, and the old front-end model closed
    assert view.heatmap in view.children and view.heatmap.layout.width == 560 == view.load_bars.layout.width
    np.testing.assert_array_equal(grid_of(view.heatmap), expected)
    fresh = view.heatmap
    view.page.width = 500  # later resizes only change the width
    assert view.heatmap is fresh and fresh.layout.width == 500
    view.close()
