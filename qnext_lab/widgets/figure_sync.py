"""Replace the content of one live ``FigureWidget`` with a freshly built figure, in one batch.

Widgets keep one ``FigureWidget`` per view for their whole life (a new widget per change would leak
JavaScript state and flicker); a figure builder returns a new ``go.Figure`` and this module copies its
traces and layout into the live widget inside ``batch_update`` so the browser redraws once.
Create each ``FigureWidget`` *with* its first figure (``go.FigureWidget(fig)``): the front end loads
plotly's JavaScript asynchronously, and update messages sent before it has loaded are lost, while the
initial state is not. Knows nothing about which figure it is.

    fw = go.FigureWidget(expert_heatmap(trace, 0))
    sync_figure(fw, expert_heatmap(trace, 1))
"""

from __future__ import annotations

import plotly.graph_objects as go

from ..figures.theme import template

# Layout keys a builder may leave unset that must not survive from the previous figure.
_RESET_LAYOUT = {"shapes": (), "annotations": ()}


def sync_figure(widget: go.FigureWidget, figure: go.Figure) -> None:
    """Make ``widget`` show ``figure``: same traces (updated in place when the count matches) and layout."""
    new_layout = figure.layout.to_plotly_json()
    if widget.data:  # the template is set once, on the first fill: copying it on every update is slow
        new_layout.pop("template", None)
    for key, empty in _RESET_LAYOUT.items():
        new_layout.setdefault(key, empty)
    if len(widget.data) != len(figure.data) or any(
        a.type != b.type for a, b in zip(widget.data, figure.data)
    ):
        with widget.batch_update():
            widget.data = []
        widget.add_traces(list(figure.data))
        with widget.batch_update():
            widget.layout.update(new_layout, overwrite=True)
        return
    with widget.batch_update():
        for live, fresh in zip(widget.data, figure.data):
            live.update(fresh.to_plotly_json(), overwrite=True)
        widget.layout.update(new_layout, overwrite=True)


def live_figure(figure: go.Figure, dark: bool = False) -> go.FigureWidget:
    """A ``FigureWidget`` created with ``figure`` (never empty, see above) in the page's light or dark look."""
    figure.update_layout(template=template(dark))
    return go.FigureWidget(figure)


def restyle(figures: list[go.FigureWidget | None], dark: bool) -> None:
    """Give live figures the light or dark template (the page's theme changed)."""
    for figure in figures:
        if figure is not None:
            figure.layout.template = template(dark)
