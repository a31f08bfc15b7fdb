"""The page's theme and pane width, reported by PageWatch, restyle and re-lay-out the view's figures, and every
figure is an output the front end's plotly renderer draws from the widget's state (see widgets/plot_pane.py)."""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go

from qnext_lab.figures.theme import template
from qnext_lab.widgets.plot_pane import PLOTLY_MIME, PlotPane
from qnext_lab.widgets.routing_heatmap import RoutingHeatmap


def _shown(pane: PlotPane) -> dict:
    """The plotly figure the front end is asked to draw: the pane's one output, as it travels (JSON)."""
    (output,) = json.loads(json.dumps(pane.outputs))  # must survive JSON: that is how the state is sent and saved
    assert output["output_type"] == "display_data"
    return output["data"][PLOTLY_MIME]


def test_dark_theme_restyles_the_figures_in_the_same_panes(trace):
    view = RoutingHeatmap(trace)
    heatmap = view.heatmap
    assert view.heatmap.figure.layout.template.layout.font.color == template(False).layout.font.color
    view.page.dark = True  # as PageWatch's JavaScript reports JupyterLab Dark
    assert view.heatmap is heatmap
    for pane in (view.heatmap, view.load_bars):
        assert pane.figure.layout.template.layout.font.color == "#e6e6e6"
        assert pane.figure.layout.template.layout.paper_bgcolor == "rgba(0,0,0,0)"  # the page shows through
        assert _shown(pane)["layout"]["template"]["layout"]["font"]["color"] == "#e6e6e6"  # what the browser gets
    assert "plot_bgcolor" not in view.heatmap.figure.layout.to_plotly_json()  # no white slab of its own
    view.close()


def test_a_narrow_pane_thins_the_token_labels_and_the_layers_view_disables_the_layer_slider(make_trace):
    view = RoutingHeatmap(make_trace(num_tokens=60))
    assert len(view.heatmap.figure.layout.xaxis.tickvals) == 60  # 900 px assumed until the browser says otherwise
    view.page.width = 420  # a half-width pane on a projector
    ticks = view.heatmap.figure.layout.xaxis.tickvals
    assert len(ticks) < 60 and ticks[1] - ticks[0] > 1
    assert not view.layer_slider.disabled
    view.mode = "layers"
    assert view.layer_slider.disabled and view.heatmap.figure.layout.showlegend is not False
    assert not view.heatmap.figure.data[0].showscale and len(view.heatmap.figure.data) > 1  # a legend, not a bar
    view.close()


def test_the_figures_are_redrawn_at_the_panes_width_in_the_same_panes(trace, grid_of):
    view = RoutingHeatmap(trace)
    pane = view.heatmap
    expected = grid_of(view.heatmap.figure)
    assert view.page.width == 0 and "width" not in _shown(pane)["layout"] or _shown(pane)["layout"]["width"] > 0
    view.page.width = 560  # the browser drew the view in a 560 px pane
    assert view.heatmap is pane and pane in view.children
    assert _shown(view.heatmap)["layout"]["width"] == 554 == _shown(view.load_bars)["layout"]["width"]  # inside 560
    np.testing.assert_array_equal(grid_of(view.heatmap.figure), expected)
    view.page.width = 0  # the pane was hidden (a closed tab): nothing changes
    assert _shown(view.heatmap)["layout"]["width"] == 554
    view.close()


def test_a_pane_shows_its_figure_as_plotly_json_with_an_html_fallback_and_keeps_its_height():
    pane = PlotPane(go.Figure(go.Heatmap(z=np.arange(6).reshape(2, 3)), layout=dict(height=250, title="t")))
    (output,) = pane.outputs
    assert set(output["data"]) == {PLOTLY_MIME, "text/html", "text/plain"}
    shown = _shown(pane)
    assert shown["data"][0]["type"] == "heatmap" and shown["config"]["displaylogo"] is False
    assert "Plotly.newPlot" in output["data"]["text/html"]  # front ends without plotly's renderer (Colab, exports)
    assert pane.layout.min_height == "250px"  # the pane keeps its height while the browser redraws
    pane.show(go.Figure(go.Bar(y=[1, 2]), layout=dict(height=300)))
    assert _shown(pane)["data"][0]["type"] == "bar" and len(pane.outputs) == 1 and pane.layout.min_height == "300px"
    pane.set_width(400)
    pane.edit(lambda figure: figure.update_layout(title="edited"))
    assert _shown(pane)["layout"]["title"]["text"] == "edited" and _shown(pane)["layout"]["width"] == 394
    pane.close()
