"""Replace the content of one live ``FigureWidget`` with a freshly built figure, in one batch.

Widgets keep one ``FigureWidget`` per view for their whole life (a new widget per change would leak
JavaScript state and flicker); a figure builder returns a new ``go.Figure`` and this module copies its
traces and layout into the live widget inside ``batch_update`` so the browser redraws once.
Create each ``FigureWidget`` *with* its first figure (``go.FigureWidget(fig)``): the front end loads
plotly's JavaScript asynchronously, and update messages sent before it has loaded are lost, while the
initial state is not. ``FollowsPage`` is the one wiring of a view's live figures to its ``PageWatch`` (theme,
pane width, plots the browser left blank). Knows nothing about which figure it is.

    fw = go.FigureWidget(expert_heatmap(trace, 0))
    sync_figure(fw, expert_heatmap(trace, 1))
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

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
    if len(widget.data) != len(figure.data) or any(a.type != b.type for a, b in zip(widget.data, figure.data)):
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


class FollowsPage:
    """Mixin for a view whose ``self.page`` is a ``PageWatch``: its live figures take the page's theme, are drawn
    at the pane's width (made anew once, when the browser first measures the pane) and are made anew when the
    browser left them blank (a few times at most).

    The view calls ``self._follow_page(slots, lock_of)`` once built: ``slots`` name each live figure attribute and
    the box holding it (see :func:`renew_figures`); ``lock_of()`` returns the lock its results are shown under, so a
    figure is never replaced while a result is being drawn into it. ``_pane_width_changed`` is a hook for views
    whose content (not only size) depends on the width.
    """

    MAX_RENEWALS = 5
    page: widgets.Widget

    def _follow_page(
        self,
        slots: Sequence[tuple[str, widgets.Box]],
        lock_of: Callable[[], AbstractContextManager] | None = None,
    ) -> None:
        self._page_slots = list(slots)
        own_lock = threading.RLock()
        self._page_lock_of = lock_of or (lambda: own_lock)
        self._renewals = 0
        self.page.observe(lambda change: restyle(self._live_figures(), change["new"]), names=["dark"])
        self.page.observe(self._on_width, names=["width"])
        self.page.observe(self._on_blank, names=["blank"])

    def _live_figures(self) -> list[go.FigureWidget | None]:
        return [getattr(self, name) for name, _ in self._page_slots]

    def _renew_figures(self, width_px: int) -> None:
        with self._page_lock_of():
            renew_figures(self, self._page_slots, self.page.dark, width_px)

    def _on_blank(self, change: dict) -> None:
        """The browser left some of this view's plots blank: make them anew (a few times at most)."""
        if change["new"] > 0 and self._renewals < self.MAX_RENEWALS:
            self._renewals += 1
            self._renew_figures(self.page.width or 0)
            self.page.blank = 0  # the browser reports again if the fresh ones stay blank too

    def _on_width(self, change: dict) -> None:
        with self._page_lock_of():  # not while a result is being shown
            if not change["old"]:  # first drawn: made anew at the pane's width (see renew)
                self._renew_figures(change["new"])
            fit_width(self._live_figures(), change["new"])
        self._pane_width_changed(change["old"], change["new"])

    def _pane_width_changed(self, old: int, new: int) -> None:
        """Hook: the pane is now ``new`` px wide (``old`` = 0: first drawn)."""
