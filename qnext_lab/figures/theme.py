"""Light and dark looks for figures and HTML panes, so views read well in either JupyterLab theme.

Figures: :func:`template` returns a plotly template for a light or dark page, or one whose theme is unknown
(what builders use, so a static figure in a notebook reads on either); backgrounds are transparent (the
notebook's own colour shows through), text, grid and weight colour scale are chosen for that page. Builders
set no background or text colours of their own, so a widget restyles a live figure by setting
``layout.template``; :func:`finish` gives a builder's figure the template and a title clear of the toolbar.
HTML panes: :data:`PANE` and the tints use JupyterLab's CSS variables (with light fallbacks for exported
files and nbviewer), so text follows the theme instead of sitting light-on-light. Knows nothing about
widgets or data.

    fig.update_layout(template=template(dark=True))
    f'<div style="{PANE}">…</div>'
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, wraps
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

from .palette import phase_tint

# HTML: JupyterLab's variables first, light fallbacks second (exported files, nbviewer, GitHub).
TEXT = "var(--jp-content-font-color1, #1a1a1a)"
MUTED = "var(--jp-content-font-color2, #5f5f5f)"
BORDER = "var(--jp-border-color2, #d0d0d0)"
MONO = "var(--jp-code-font-family, monospace)"
PANE = (
    f"box-sizing:border-box;border:1px solid {BORDER};border-radius:4px;padding:6px 8px;font-family:{MONO};color:{TEXT};line-height:1.45;"
    "white-space:normal;overflow-wrap:anywhere;"
)
# Tints are translucent so they read on white and on near-black alike.
THINKING_TINT = phase_tint("thinking", 0.12)  # the phase colours' one home is palette.PHASE_COLORS
ANSWER_TINT = phase_tint("answer", 0.14)
WARNING_TINT = "rgba(214,39,40,0.10)"
FORCED = "#d26a00"  # orange: forced budget text, "budget reached"
RIGHT_BG, WRONG_BG, UNKNOWN_BG = "#1e7d45", "#c62828", "#6b6b6b"  # badges: white text on a solid colour


# Weight colour scales (routing heatmap: blank = not chosen): the strongest weight is the colour that stands out
# most from the page: dark navy on a light page, near-white blue on a dark one (navy on near-black disappears).
WEIGHTS_LIGHT = [[0.0, "#BFD8EE"], [0.5, "#4A90C8"], [1.0, "#08306B"]]
WEIGHTS_DARK = [[0.0, "#1F4E79"], [0.5, "#4A90C8"], [1.0, "#DCEBFA"]]
WEIGHTS_ANY = [[0.0, "#BFD8EE"], [0.5, "#6BAED6"], [1.0, "#2171B5"]]  # page unknown: readable on both
_TEXT = {False: "#2a2a2a", True: "#e6e6e6", None: "#777777"}  # None: about 4.5:1 on white and on #111
_GRID = {False: "rgba(0,0,0,0.10)", True: "rgba(255,255,255,0.14)", None: "rgba(128,128,128,0.25)"}
_WEIGHTS = {False: WEIGHTS_LIGHT, True: WEIGHTS_DARK, None: WEIGHTS_ANY}


@lru_cache(maxsize=3)
def template(dark: bool | None = None) -> go.layout.Template:
    """A plotly template with transparent backgrounds for a light page (``dark=False``), a dark one (``True``),
    or a page whose theme is not known (``None``, what builders use: a static figure in a notebook must read on
    either; a live widget swaps in the page's own). Its ``coloraxis`` carries the weight colour scale of that
    page, so a figure whose heatmap uses ``coloraxis`` changes scale with the template."""
    base = pio.templates["plotly_dark" if dark else "plotly_white"]
    out = go.layout.Template(base)
    text, grid = _TEXT[dark], _GRID[dark]
    out.layout.update(
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        font=dict(color=text),
        title=dict(font=dict(color=text)),
        legend=dict(font=dict(color=text)),
        xaxis=dict(gridcolor=grid, zerolinecolor=grid, linecolor=grid),
        yaxis=dict(gridcolor=grid, zerolinecolor=grid, linecolor=grid),
        coloraxis=dict(colorscale=_WEIGHTS[dark]),
        hoverlabel=dict(font=dict(color="#111111"), bgcolor="#fafafa"),
        modebar=dict(bgcolor="rgba(0,0,0,0)", color="#9a9a9a", activecolor=text),
    )
    return out


TOOLBAR_PX = 34  # plotly's toolbar sits in the top-right corner of the figure, about this tall


def finish(fig: go.Figure) -> go.Figure:
    """The house look of a builder's figure: the theme-neutral template where none was set, and the title at the
    top-left corner of the figure, above the plot area, so it is never under the toolbar (top right) and never on
    a legend or subplot title. Returns ``fig``."""
    if fig.layout.template.layout.paper_bgcolor != "rgba(0,0,0,0)":  # plotly's default, not one of ours
        fig.update_layout(template=template())
    if fig.layout.title.text:
        fig.update_layout(title=dict(x=0, xanchor="left", yref="container", y=1, yanchor="top", pad=dict(t=8, l=8)))
        top = fig.layout.margin.t
        if top is None or top < TOOLBAR_PX + 30:
            fig.update_layout(margin=dict(t=TOOLBAR_PX + 30))
    return fig


def themed(builder: Callable[..., go.Figure]) -> Callable[..., go.Figure]:
    """Decorator: the builder's figure goes through :func:`finish`."""

    @wraps(builder)
    def build(*args: Any, **kwargs: Any) -> go.Figure:
        return finish(builder(*args, **kwargs))

    return build
