"""KitView: the one base of the kit's views (RoutingHeatmap, ThinkCompare, BudgetTuner, ExpertSwitchboard,
AgentView, Dashboard).

What every view shares lives here once: its ``PageWatch`` (the page's theme and the pane's width, passed on to the
view's own ``PlotPane`` figures; a nested view looks after its own), a line shown only where the view is drawn from
a notebook's saved widget state with no kernel (``saved_view``), the ``status`` trait shown in ``status_label``,
the read-only ``language`` trait (the labels' language, fixed when the view is built), the error pane (``errors``,
tracebacks shown in the view, never swallowed; the ``error`` trait names the last one), ``show_figure`` (a figure
pane made in its box with the first figure, then replaced), ``fail`` and ``wait`` (every worker of the view and of
the views in it), its CSS classes (``qnext-view`` plus the view's own),
one ``close()`` (stops every ``LatestWorker`` the view holds, then closes every widget below it, also controls that
are not children in every layout), the static copy saved next to the live widget (``_repr_mimebundle_``) and
``to_html``, both built from the view's ``snapshot_parts()``. Knows nothing about models or figures. A view's
user-visible state is in traitlets (validated by traitlets' types and ``qnext_lab.checks``), so it can be read, set
and observed from code.

    class MyView(KitView):
        VIEW_NAME = "MyView"
        def __init__(self, trace, language=None):
            self._begin(language)
            self.plot = self.new_plot(some_figure(trace))
            super().__init__([self.status_label, self.plot], css_class="qnext-my-view")
        def snapshot_parts(self): return [self.plot.figure]
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import plotly.graph_objects as go
import traitlets

from ..figures.escape import escape_text
from ..figures.export import write_html
from ..figures.fragments import italic
from .closing import close_tree
from .fallback import widget_bundle
from .front_end import prepare_front_end
from .i18n import LANGUAGES, check_language, text
from .page import PageWatch, let_shrink
from .plot_pane import PlotPane
from .worker import LatestWorker


class KitView(widgets.VBox):
    """Base class of the kit's views (see module docstring)."""

    _qnext_closable = True  # close_tree closes a nested view through its own close()
    VIEW_NAME = "view"
    status = traitlets.Unicode("", help="what the view is doing, shown in status_label")
    error = traitlets.Unicode("", help="the last error, 'Type: message' ('' since the last clear_error())")
    # set once by _begin: every label is drawn in it when the view is built
    language = traitlets.Enum(LANGUAGES, default_value="en", read_only=True, help="the language of the labels")

    def _begin(self, language: str | None = None) -> None:
        """First call of a view's ``__init__``: the parts every view has, before its own are built."""
        prepare_front_end()  # Colab: its custom widget manager, for PageWatch (front_end.py)
        self.set_trait("language", check_language(language))  # ValueError naming the languages
        self.page = PageWatch()
        self.errors = widgets.Output()
        # HTML, not Label: a Label never wraps and clips a long status ("answered in 0.47" without its "s")
        self.status_label = widgets.HTML(layout=widgets.Layout(min_width="0"))
        self.status_label.add_class("qnext-status")
        self._loose: list[widgets.Widget] = []

    def __init__(
        self,
        children: Sequence[widgets.Widget],
        *,
        css_class: str,
        loose: Sequence[widgets.Widget] = (),
        **kwargs: Any,
    ) -> None:
        """``children`` between the page watch and the error pane; ``loose``: widgets of the view that are not
        children in every layout (closed with it)."""
        saved_note = widgets.HTML(italic(text("saved_view", self.language)))
        saved_note.add_class("qnext-saved-note")  # shown only where the view is drawn from saved state (page.py)
        saved_note.layout.display = "none"
        super().__init__(children=[self.page, saved_note, *children, self.errors], **kwargs)
        self._loose = [*self._loose, *loose]
        self.add_class(css_class)
        self.add_class("qnext-view")
        let_shrink(self)
        self.observe(lambda change: setattr(self.status_label, "value", escape_text(change["new"])), names=["status"])
        self.page.observe(self._on_dark, names=["dark"])
        self.page.observe(self._on_width, names=["width"])

    # ------------------------------------------------------------------ page -> figures
    def new_plot(self, figure: go.Figure | None = None) -> PlotPane:
        """A ``PlotPane`` of this view, in the page's current theme and width."""
        return PlotPane(figure, dark=self.page.dark, width_px=self.page.width)

    def plots(self) -> Iterator[PlotPane]:
        """This view's figures on screen (not those of views nested in it)."""
        stack = list(self.children)
        while stack:
            widget = stack.pop()
            if isinstance(widget, PlotPane):
                yield widget
            elif not isinstance(widget, KitView):
                stack.extend(getattr(widget, "children", ()) or ())

    def _on_dark(self, change: dict) -> None:
        for plot in self.plots():
            plot.set_theme(change["new"])

    def _on_width(self, change: dict) -> None:
        for plot in self.plots():
            plot.set_width(change["new"])
        self._pane_width_changed(change["old"], change["new"])

    def _pane_width_changed(self, old: int, new: int) -> None:
        """Hook: the pane is now ``new`` px wide (``old`` = 0: first drawn)."""

    # ------------------------------------------------------------------ errors
    def show_error(self, exc: BaseException) -> None:
        """Show ``exc`` with its traceback in the view's error pane; ``error`` names it."""
        self.error = f"{type(exc).__name__}: {exc}"
        self.errors.append_stderr("".join(traceback.format_exception(exc)))

    def fail(self, exc: BaseException) -> None:
        """A run of the view ended in ``exc``: the status says so and the error pane shows it."""
        self.status = text("error", self.language)
        self.show_error(exc)

    def clear_error(self) -> None:
        """Empty the error pane and ``error`` (a new run starts)."""
        self.error = ""
        self.errors.clear_output()

    # ------------------------------------------------------------------ figures in boxes
    def show_figure(self, box: widgets.Box, plot: PlotPane | None, figure: go.Figure) -> PlotPane:
        """``figure`` shown in ``plot``, or, the first time (``plot`` None), in a new ``PlotPane`` put in ``box``;
        returns the pane (keep it for the next call)."""
        if plot is None:
            plot = self.new_plot(figure)
            box.children = [plot]
        else:
            plot.show(figure)
        return plot

    # ------------------------------------------------------------------ waiting and closing
    def wait(self, timeout: float = 300.0) -> bool:
        """Block until the view's workers, then those of the views nested in it, are idle (for scripts and tests).
        True if all of them finished within ``timeout`` seconds."""
        deadline, done = time.monotonic() + timeout, True
        views, stack = [self], list(self.children)
        while stack:
            widget = stack.pop(0)
            if isinstance(widget, KitView):
                views.append(widget)
            stack.extend(getattr(widget, "children", ()) or ())
        for view in views:
            for value in list(vars(view).values()):  # in the order they were made: an answer before its curve
                if isinstance(value, LatestWorker):
                    done = value.wait_idle(max(0.0, deadline - time.monotonic())) and done
        return done

    def close(self) -> None:
        """Stop the view's workers (a running generation is cancelled), then close every part of it."""
        for value in list(vars(self).values()):  # ipywidgets also closes half-built views (a refused argument)
            if isinstance(value, LatestWorker):
                value.close()
        close_tree(self)
        for widget in getattr(self, "_loose", ()):
            widget.close()
        super().close()

    # ------------------------------------------------------------------ static copies
    def snapshot_parts(self) -> list[Any]:
        """What is on screen, as figures and escaped HTML fragments (``to_html``, the saved static copy)."""
        return []

    def snapshot_title(self) -> str:
        return self.VIEW_NAME

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        shown = "".join(part for part in self.snapshot_parts() if isinstance(part, str))
        return widget_bundle(super()._repr_mimebundle_(**kwargs), self.VIEW_NAME, shown)

    def to_html(self, path: str | Path) -> Path:
        """Write what is on screen (text, answers, figures) to a standalone offline HTML file."""
        return write_html(path, self.snapshot_parts(), title=self.snapshot_title())
