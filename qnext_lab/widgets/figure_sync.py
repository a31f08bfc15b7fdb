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

import ipywidgets as widgets
import plotly.graph_objects as go

from ..figures.theme import template

# Layout keys a builder may leave unset that must not survive from the previous figure.
_RESET_LAYOUT = {"shapes": (), "annotations": ()}


def sync_figure(widget: go.FigureWidget, figure: go.Figure) -> None:
    """Make ``widget`` show ``figure``: same traces (updated in place when the count matches) and layout."""
    new_layout = figure.layout.to_plotly_json()
    if widget.layout.width is not None and "width" not in new_layout:
        new_layout["width"] = widget.layout.width  # keep the pane's width (see fit_width)
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


def live_figure(figure: go.Figure, dark: bool = False, width_px: int = 0) -> go.FigureWidget:
    """A ``FigureWidget`` created with ``figure`` (never empty, see above) in the page's light or dark look,
    ``width_px`` wide once the pane's width is known (plotly would draw it 700 px wide, whatever the pane)."""
    figure.update_layout(template=template(dark))
    if width_px > 0:
        figure.update_layout(width=width_px)
    return go.FigureWidget(figure)


def restyle(figures: list[go.FigureWidget | None], dark: bool) -> None:
    """Give live figures the light or dark template (the page's theme changed)."""
    for figure in figures:
        if figure is not None:
            figure.layout.template = template(dark)


def fit_width(figures: list[go.FigureWidget | None], width_px: int) -> None:
    """Draw live figures ``width_px`` wide (the pane's width as PageWatch measured it; 0 = not drawn yet)."""
    if width_px <= 0:
        return
    for figure in figures:
        if figure is not None and figure.layout.width != width_px:
            figure.layout.width = width_px


def renew(widget: go.FigureWidget | None, box: widgets.Box, dark: bool, width_px: int) -> go.FigureWidget | None:
    """Replace ``widget`` inside ``box`` by a fresh ``FigureWidget`` of the same figure, ``width_px`` wide.

    Called once, when the browser has drawn the view and measured its pane: a figure is then drawn at the pane's
    width from the start, and a FigureWidget whose front end gave up (anywidget allows a model 2 s to load its
    JavaScript: plotly's 5 MB bundle can take longer on a busy machine, leaving the first plot on a page blank)
    is replaced by one that loads from the browser's cache.
    """
    if widget is None or width_px <= 0 or widget not in box.children:
        return widget
    fresh = live_figure(go.Figure(widget), dark, width_px)
    box.children = tuple(fresh if child is widget else child for child in box.children)
    widget.close()
    return fresh


def renew_figures(owner: object, slots: list[tuple[str, widgets.Box]], dark: bool, width_px: int) -> None:
    """:func:`renew` each figure ``getattr(owner, name)`` held in its box, storing the fresh one back."""
    for name, box in slots:
        setattr(owner, name, renew(getattr(owner, name), box, dark, width_px))
