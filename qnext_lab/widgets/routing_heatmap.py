"""RoutingHeatmap: browse a RoutingTrace layer by layer in Jupyter.

A thin widget over ``qnext_lab.figures.routing``: a layer slider, a mode toggle (tokens x experts for one
layer, or tokens x layers coloured by top-1 expert), a window over long traces, the layer's expert-load
bars and the text coloured by top-1 expert. State lives in traitlets (``layer`` -- a decoder-layer index, a
value of ``trace.layer_indices`` --, ``mode``, ``window_start``, ``window_size``); setting them from code moves
the controls and redraws. Each figure is one ``PlotPane`` for the widget's whole life, its figure replaced on
each change. Knows nothing about models.

    view = RoutingHeatmap(generation.trace)
    view.layer = 3; view.to_html("routing.html")   # decoder layer 3
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import plotly.graph_objects as go
import traitlets

from ..figures.escape import escape_text
from ..figures.fragments import title_line
from ..figures.routing import (
    DEFAULT_WIDTH_PX,
    DEFAULT_WINDOW,
    expert_heatmap,
    expert_legend_html,
    expert_load_bars,
    layer_map,
    layer_position,
    routing_text_html,
    trace_arrays,
    window_bounds,
)
from ..figures.routing import LABELS as ROUTING_LABELS
from .i18n import figure_labels, text
from .view import KitView

MODES = ("experts", "layers")
WINDOW_SIZES = (128, 256, 512, 1024, 2048)


class RoutingHeatmap(KitView):
    """Routing heatmap, load bars and coloured text for one trace (see module docstring)."""

    VIEW_NAME = "RoutingHeatmap"

    layer = traitlets.Int(0, help="decoder-layer index shown (a value of trace.layer_indices)")
    mode = traitlets.Unicode("experts", help="'experts' (tokens x experts) or 'layers' (tokens x layers)")
    window_start = traitlets.Int(0, help="first token row shown")
    window_size = traitlets.Int(DEFAULT_WINDOW, help="token rows shown at once (long traces are paged)")
    title = traitlets.Unicode("Routing", help="the view's title (header, figure titles, exported page)")

    def __init__(
        self,
        trace: Any,
        *,
        layer: int | None = None,
        mode: str = "experts",
        window_size: int = DEFAULT_WINDOW,
        title: str | None = None,
        show_text: bool = True,
        language: str | None = None,
        **kwargs: Any,
    ) -> None:
        self._begin(language)
        if mode not in MODES:
            raise ValueError(f"mode must be 'experts' or 'layers', got {mode!r}")
        self.trace = trace
        self._muted = False
        self.title = title or "Routing"
        self._arrays = trace_arrays(trace)
        n = self._arrays.num_tokens
        layer = self._arrays.layer_indices[layer_position(self._arrays, layer)]  # ValueError if not captured

        # the slider steps through the captured decoder layers (which need not be 0..L-1)
        self.layer_slider = widgets.SelectionSlider(
            options=_layer_options(self._arrays),
            value=layer,
            description=text("layer", self.language),
            continuous_update=True,
            readout=False,
        )
        self.layer_label = widgets.Label()
        self.mode_toggle = widgets.ToggleButtons(
            options=[
                (text("tokens_experts", self.language), "experts"),
                (text("tokens_layers", self.language), "layers"),
            ],
            value=mode,
            description=text("view", self.language),
            style={"button_width": "auto"},
        )
        self.window_slider = widgets.IntSlider(
            value=0,
            min=0,
            max=max(0, n - 1),
            step=max(1, window_size // 4),
            description=text("tokens_from", self.language),
            continuous_update=False,
            layout=widgets.Layout(width="60%"),
            style={"description_width": "initial"},
        )
        self.size_dropdown = widgets.Dropdown(
            options=_window_options(n),
            value=min(window_size, n) if window_size in WINDOW_SIZES else n,
            description=text("window", self.language),
            layout=widgets.Layout(width="180px"),
        )
        self.window_box = widgets.HBox([self.window_slider, self.size_dropdown])
        self.window_box.layout.display = None if n > min(WINDOW_SIZES) else "none"

        self.header = widgets.HTML(self._header_html())
        first_window = window_bounds(n, 0, self.size_dropdown.value)
        first = (
            layer_map(
                self._arrays,
                window=first_window,
                title=self._layers_title(),
                width_px=self.width_px,
                words=self._labels,
            )
            if mode == "layers"
            else expert_heatmap(
                self._arrays,
                layer,
                window=first_window,
                width_px=self.width_px,
                title=self._heatmap_title(layer),
                words=self._labels,
            )
        )
        self.heatmap = self.new_plot(first)
        self.load_bars = self.new_plot(
            expert_load_bars(
                self._arrays,
                layer,
                window=first_window,
                title=text("load_title", self.language, layer=layer),
                words=self._labels,
            )
        )
        self.text = widgets.HTML(layout=widgets.Layout(max_height="220px", overflow="auto"))
        self.legend = widgets.HTML(
            expert_legend_html(self._arrays.num_experts) if self._arrays.num_experts <= 64 else ""
        )
        children = [
            self.header,
            widgets.HBox([self.layer_slider, self.layer_label]),
            self.mode_toggle,
            self.window_box,
            self.heatmap,
            self.load_bars,
        ]
        if show_text:
            children += [self.legend, self.text]
        super().__init__(children, css_class="qnext-routing-heatmap", **kwargs)

        with self.hold_trait_notifications():
            self.layer, self.mode, self.window_size = layer, mode, self.size_dropdown.value
        # controls -> traits (traits are the state; controls only mirror them)
        widgets.link((self.layer_slider, "value"), (self, "layer"))
        widgets.link((self.mode_toggle, "value"), (self, "mode"))
        self.window_slider.observe(lambda change: setattr(self, "window_start", change["new"]), names=["value"])
        widgets.link((self.size_dropdown, "value"), (self, "window_size"))
        self.observe(self._on_change, names=["layer", "mode", "window_start", "window_size"])
        self.observe(self._on_title, names=["title"])
        self._render(full=True, figures=False)

    @property
    def width_px(self) -> int:
        """The width the figures are laid out for: the pane's, once the browser has drawn the widget."""
        return self.page.width if self.page.width > 0 else DEFAULT_WIDTH_PX

    def _pane_width_changed(self, old: int, new: int) -> None:
        if abs(new - (old or DEFAULT_WIDTH_PX)) >= 40:  # token labels depend on the width
            self._render(full=False)

    def set_trace(self, trace: Any) -> None:
        """Show another trace in the same widget (the same figure panes show the new figures)."""
        arrays = trace_arrays(trace)
        self._muted = True
        try:
            self.trace, self._arrays = trace, arrays
            keep_layer = _nearest(arrays.layer_indices, self.layer)
            self.layer_slider.options = _layer_options(arrays)
            self.layer_slider.value = keep_layer
            self.window_slider.max = max(0, arrays.num_tokens - 1)
            sizes = _window_options(arrays.num_tokens)
            keep = self.window_size if self.window_size in WINDOW_SIZES else DEFAULT_WINDOW
            self.size_dropdown.options = sizes
            self.size_dropdown.value = keep if keep < arrays.num_tokens else arrays.num_tokens
            self.layer = keep_layer
            self.window_start = 0
        finally:
            self._muted = False
        self.header.value = self._header_html()
        self.legend.value = expert_legend_html(arrays.num_experts) if arrays.num_experts <= 64 else ""
        self.window_box.layout.display = None if arrays.num_tokens > min(WINDOW_SIZES) else "none"
        self._render(full=True)

    def _header_html(self) -> str:
        a = self._arrays
        summary = text(
            "routing_summary", self.language, tokens=a.num_tokens, layers=a.num_layers, k=a.top_k, experts=a.num_experts
        )
        notes = []
        if a.hash_layers:
            notes.append(text("routing_hash_note", self.language, layers=", ".join(map(str, a.hash_layers))))
        if a.zero_experts:
            notes.append(text("routing_zero_note", self.language, first=a.first_zero, last=a.num_experts - 1))
        return title_line(self.title, summary, notes)

    @property
    def _labels(self) -> dict[str, str]:
        """The routing figures' words in this view's language."""
        return figure_labels(ROUTING_LABELS, self.language)

    # ------------------------------------------------------------------ state -> view
    @property
    def window(self) -> tuple[int, int]:
        """The token rows currently shown, ``(start, stop)``."""
        return window_bounds(self._arrays.num_tokens, self.window_start, self.window_size)

    @traitlets.validate("layer")
    def _valid_layer(self, proposal: dict) -> int:
        value = int(proposal["value"])
        if value not in self._arrays.layer_indices:
            raise traitlets.TraitError(
                f"layer {value} was not captured; pick a decoder layer of this trace: {self._arrays.layer_indices}"
            )
        return value

    @traitlets.validate("window_size")
    def _valid_window_size(self, proposal: dict) -> int:
        if int(proposal["value"]) <= 0:
            raise traitlets.TraitError(f"window_size must be a positive number of tokens, got {proposal['value']}")
        return int(proposal["value"])

    @traitlets.validate("window_start")
    def _valid_window_start(self, proposal: dict) -> int:
        return window_bounds(self._arrays.num_tokens, proposal["value"], max(1, self.window_size))[0]

    @traitlets.validate("mode")
    def _valid_mode(self, proposal: dict) -> str:
        if proposal["value"] not in ("experts", "layers"):
            raise traitlets.TraitError(f"mode must be 'experts' or 'layers', got {proposal['value']!r}")
        return proposal["value"]

    def _on_title(self, change: dict) -> None:
        self.header.value = self._header_html()
        self._render(full=False)

    def _on_change(self, change: dict) -> None:
        if self._muted:
            return
        self._render(full=change["name"] != "mode")

    def heatmap_figure(self) -> go.Figure:
        """The heatmap for the current state, as a new figure (pure builder call)."""
        if self.mode == "layers":
            return layer_map(
                self._arrays,
                window=self.window,
                title=self._layers_title(),
                width_px=self.width_px,
                words=self._labels,
            )
        return expert_heatmap(
            self._arrays,
            self.layer,
            window=self.window,
            width_px=self.width_px,
            title=self._heatmap_title(self.layer),
            words=self._labels,
        )

    def _layers_title(self) -> str:
        return text("layers_title", self.language, title=escape_text(self.title))  # plotly reads titles as HTML

    def _heatmap_title(self, layer: int) -> str:
        a = self._arrays
        return text("heatmap_title", self.language, layer=layer, k=a.top_k, experts=a.num_experts)

    def load_figure(self) -> go.Figure:
        return expert_load_bars(
            self._arrays,
            self.layer,
            window=self.window,
            title=text("load_title", self.language, layer=self.layer),
            words=self._labels,
        )

    def text_html(self) -> str:
        return routing_text_html(self._arrays, self.layer, window=self.window)

    def _render(self, full: bool = True, figures: bool = True) -> None:
        try:
            self.layer_slider.disabled = self.mode == "layers"  # every layer is on screen: the slider does nothing
            self.layer_label.value = (
                "" if self.mode == "layers" else text("decoder_layer_n", self.language, layer=self.layer)
            )
            start, stop = self.window
            self.window_slider.max = max(0, self._arrays.num_tokens - (stop - start))
            if self.window_slider.value != start:
                self.window_slider.value = start
            if figures:
                self.heatmap.show(self.heatmap_figure())
            if full:
                if figures:
                    self.load_bars.show(self.load_figure())
                self.text.value = self.text_html()
        except Exception as exc:  # shown in the widget, not swallowed
            self.show_error(exc)

    # ------------------------------------------------------------------ static copies
    def snapshot_parts(self) -> list[Any]:
        """Header, heatmap, load bars and the coloured text (for ``to_html`` and the saved static copy)."""
        return [
            self.header.value,
            self.heatmap.figure,
            self.load_bars.figure,
            self.legend.value + self.text_html(),
        ]

    def snapshot_title(self) -> str:
        return self.title


def _layer_options(arrays: Any) -> list[int]:
    """Slider options: the captured decoder-layer indices (ipywidgets labels each with its str)."""
    return [int(i) for i in arrays.layer_indices]


def _nearest(layer_indices: list[int], layer: int) -> int:
    """``layer`` if captured, else the captured decoder layer closest to it (the lower one on a tie)."""
    return min(layer_indices, key=lambda i: (abs(i - layer), i))


def _window_options(num_tokens: int) -> list[tuple[str, int]]:
    """Dropdown options: the window sizes shorter than the trace, then "all" (every item a (label, value) pair:
    ipywidgets reads a mixed list as values, and "all" would never match)."""
    return [(str(s), s) for s in WINDOW_SIZES if s < num_tokens] + [("all", int(num_tokens))]
