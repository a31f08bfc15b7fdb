"""PlotPane: one plotly figure in a view, drawn by the front end's own plotly renderer, updated by replacement.

A view's figure is an ``ipywidgets.Output`` whose one output is the figure's MIME bundle
(``application/vnd.plotly.v1+json``, drawn by the ``jupyterlab-plotly`` renderer that JupyterLab and Notebook 7
load once per page; ``text/html`` with plotly.js from its CDN for front ends without that renderer, e.g. Colab
and HTML exports). Showing a new figure replaces the ``outputs`` trait in one message: the state *is* the picture,
so it paints whenever and wherever the widget is drawn (a hidden tab opened later, a notebook reopened from its
saved widget state) and no update can be lost.

Why not plotly's ``FigureWidget``: since plotly 6 it is an anywidget whose state carries plotly.js itself (a 5 MB
``_esm`` string per figure, evaluated once per figure). anywidget 0.11 rejects a model's ``ready`` promise when that
takes over 2 s (``AbortSignal.timeout(2000)`` in its runtime), and every later comm message to the model waits on
that promise (``AnyModel._handle_comm_msg``): on a busy machine a figure keeps its first state for good, and a
figure first drawn empty stays empty. See docs/architecture.md ("Painting").

    pane = PlotPane(expert_heatmap(trace, 0))
    pane.show(expert_heatmap(trace, 1)); pane.set_width(560); pane.set_theme(dark=True)
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import plotly.graph_objects as go
import plotly.io as pio

from ..figures.theme import template

PLOTLY_MIME = "application/vnd.plotly.v1+json"
CONFIG = {"displaylogo": False}
_DEFAULT_HEIGHT_PX = 360  # what the JupyterLab renderer draws when the layout gives no height
_INSET_PX = 6  # the Output widget's own margins (2 x 2 px) and a rounding pixel: the figure never overflows it


class PlotPane(widgets.Output):
    """A plotly figure shown as an output (see module docstring); ``figure`` is what it shows now."""

    def __init__(self, figure: go.Figure | None = None, *, dark: bool = False, width_px: int = 0, **kwargs: Any):
        super().__init__(**kwargs)
        self.add_class("qnext-plot")
        self.layout.min_width = "0"  # never widens the boxes around it (their width is what PageWatch measures)
        self._lock = threading.RLock()
        self._dark, self._width_px = bool(dark), int(width_px)
        self._figure = go.Figure()
        if figure is not None:
            self.show(figure)

    @property
    def figure(self) -> go.Figure:
        """The figure on screen (its template and width are the page's). Edit a copy and :meth:`show` it."""
        return self._figure

    def show(self, figure: go.Figure) -> None:
        """Show ``figure`` (a copy is kept, in the page's theme and width) in place of the one on screen."""
        fresh = go.Figure(figure)
        with self._lock:
            self._figure = fresh
            self._draw()

    def edit(self, change: Callable[[go.Figure], Any]) -> None:
        """Apply ``change`` to the figure on screen (in place, e.g. ``figures.budget.mark_budget``) and redraw."""
        with self._lock:
            change(self._figure)
            self._draw()

    def set_theme(self, dark: bool) -> None:
        """Redraw in the light or dark template (the page's theme changed)."""
        with self._lock:
            if bool(dark) != self._dark:
                self._dark = bool(dark)
                self._draw()

    def set_width(self, width_px: int) -> None:
        """Redraw to fit a pane ``width_px`` wide (as PageWatch measured it; 0 = hidden or not drawn yet)."""
        with self._lock:
            if width_px > 0 and int(width_px) != self._width_px:
                self._width_px = int(width_px)
                self._draw()

    def _draw(self) -> None:
        self._figure.update_layout(template=template(self._dark))
        if self._width_px > 0:
            self._figure.update_layout(width=max(120, self._width_px - _INSET_PX))
        height = self._figure.layout.height or _DEFAULT_HEIGHT_PX
        self.layout.min_height = f"{int(height)}px"  # the pane keeps its height while the new figure draws
        self.outputs = (figure_output(self._figure),)


def figure_output(figure: go.Figure) -> dict[str, Any]:
    """A ``display_data`` output of ``figure``: plotly's JSON for the JupyterLab renderer, HTML for the rest."""
    spec = json.loads(pio.to_json(figure, validate=False))  # numpy -> JSON (NaN -> null)
    html = pio.to_html(figure, include_plotlyjs="cdn", full_html=False, config=CONFIG, validate=False)
    title = getattr(figure.layout.title, "text", None) or "plotly figure"
    return {
        "output_type": "display_data",
        "data": {PLOTLY_MIME: {**spec, "config": CONFIG}, "text/html": html, "text/plain": f"<{title}>"},
        "metadata": {},
    }
