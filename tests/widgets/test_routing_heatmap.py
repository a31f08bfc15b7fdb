"""RoutingHeatmap: programmatic control moves redraw the same figure panes; errors are shown."""

from __future__ import annotations

import numpy as np
import pytest
import traitlets

from qnext_lab.figures.routing import expert_heatmap, layer_map
from qnext_lab.widgets.routing_heatmap import RoutingHeatmap


@pytest.fixture
def odd_trace(make_trace):
    """Decoder layers 1, 3, 5 captured: slider positions and layer indices differ."""
    return make_trace(layer_indices=[1, 3, 5])


def test_layer_slider_redraws_the_same_figure_widget(odd_trace, grid_of):
    view = RoutingHeatmap(odd_trace)
    assert view.layer == 1 and view.layer_slider.options == (1, 3, 5)  # the captured decoder layers
    heatmap, bars = view.heatmap, view.load_bars
    view.layer_slider.value = 5  # as if the user dragged it to the end
    assert view.layer == 5
    assert view.heatmap is heatmap and view.load_bars is bars
    np.testing.assert_array_equal(grid_of(view.heatmap.figure), grid_of(expert_heatmap(odd_trace.layer(5))))
    assert "layer 5" in view.heatmap.figure.layout.title.text and view.layer_label.value == "decoder layer 5"
    assert "Expert load — layer 5" in view.load_bars.figure.layout.title.text
    view.layer = 3  # and from code: the slider follows
    assert view.layer_slider.value == 3
    assert RoutingHeatmap(odd_trace, layer=3).layer == 3
    with pytest.raises(ValueError, match=r"layer 2 was not captured.*\[1, 3, 5\]"):
        RoutingHeatmap(odd_trace, layer=2)


def test_mode_toggle_switches_to_tokens_by_layers_and_back(trace, grid_of):
    view = RoutingHeatmap(trace)
    view.mode_toggle.value = "layers"
    np.testing.assert_array_equal(grid_of(view.heatmap.figure), grid_of(layer_map(trace)))
    assert view.heatmap.figure.layout.yaxis.type == "category"
    view.mode = "experts"
    assert grid_of(view.heatmap.figure).shape == (8, 40)
    assert view.heatmap.figure.layout.yaxis.type == "linear"
    assert len(view.heatmap.figure.data) == 1


def test_long_trace_is_paged_by_window(make_trace, grid_of):
    view = RoutingHeatmap(make_trace(num_tokens=4100), window_size=512)
    assert view.window == (0, 512) and grid_of(view.heatmap.figure).shape == (8, 512)
    view.window_start = 4000  # past the end: the window slides back to stay full
    assert view.window == (3588, 4100) and view.window_slider.value == 3588 == view.window_slider.max
    assert list(view.heatmap.figure.layout.xaxis.range) == [3587.5, 4099.5]
    assert view.text.value.count('class="qnext-token"') == 512
    view.size_dropdown.value = 1024
    assert grid_of(view.heatmap.figure).shape == (8, 1024)


def test_a_trace_shorter_than_the_window_shows_all_of_it(make_trace):
    view = RoutingHeatmap(make_trace(num_tokens=196), window_size=512)
    assert view.window == (0, 196) and view.size_dropdown.label == "all"
    view.size_dropdown.value = 128
    assert view.window == (0, 128)


def test_bad_values_are_refused_and_callback_errors_are_shown(trace, monkeypatch):
    view = RoutingHeatmap(trace)
    with pytest.raises(traitlets.TraitError, match=r"layer 7 was not captured.*\[0, 1, 2\]"):
        view.layer = 7
    with pytest.raises(traitlets.TraitError, match="positive"):
        view.window_size = 0

    def broken(*args, **kwargs):
        raise RuntimeError("builder failed for this layer")

    monkeypatch.setattr("qnext_lab.widgets.routing_heatmap.expert_heatmap", broken)
    view.layer_slider.value = 1  # the error from the callback is shown in the widget, not swallowed
    assert any("builder failed for this layer" in out["text"] for out in view.errors.outputs)


def test_set_trace_reuses_the_widget_for_a_new_trace(odd_trace, make_trace, grid_of):
    view = RoutingHeatmap(odd_trace)
    heatmap = view.heatmap
    view.layer = 5
    other = make_trace(num_layers=2, num_tokens=12, num_experts=4, layer_indices=[0, 4])
    view.set_trace(other)  # decoder layer 5 is not in the new trace: the closest captured one (4) is shown
    assert view.heatmap is heatmap and view.layer == 4 and view.layer_slider.options == (0, 4)
    assert "layer 4" in view.heatmap.figure.layout.title.text
    assert grid_of(view.heatmap.figure).shape == (4, 12)
    assert "12 tokens, 2 MoE layers" in view.header.value


def test_export_writes_the_current_view(tmp_path, trace):
    view = RoutingHeatmap(trace)
    view.layer = 2
    html = view.to_html(tmp_path / "routing.html").read_text()
    assert "layer 2 (top-2 of 8)" in html and "Expert load" in html and "qnext-token" in html
