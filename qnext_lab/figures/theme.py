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

import re
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


# Plotly's toolbar (the "modebar") is drawn over the figure's top-right corner: 2 px from the top, buttons 22 px
# tall. Every kit figure keeps the top TOOLBAR_PX of its height for it and draws nothing there (see finish); the
# toolbar itself is the slim one (TOOLBAR_REMOVE, in every template: zoom, pan, reset, download as PNG).
TOOLBAR_PX = 28
TOOLBAR_REMOVE = ("select2d", "lasso2d", "zoomIn2d", "zoomOut2d", "autoScale2d")
_OLD_TITLE_TOP_PX = 8  # where builders' layouts expect the title's top (they were laid out for this)
_PLOTLY_TOP_MARGIN_PX = 100  # plotly's own default top margin
_TITLE_LINE_PX, _SMALL_LINE_PX, _GAP_PX = 24, 18, 6
_MULTILINE_LIFT_PX = 12  # plotly.js 4 draws a title of several lines this much above where one line would start
_SUBTITLE_PX = 28  # plotly.js 4 draws ``title.subtitle`` (font 11-12) about this far below the title's last line


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
        modebar=dict(bgcolor="rgba(0,0,0,0)", color="#9a9a9a", activecolor=text, remove=list(TOOLBAR_REMOVE)),
    )
    return out


def _lines_px(text: str, line_px: int) -> int:
    """Height of a plotly title or annotation: ``<br>`` starts a line; a line in ``<sup>`` / ``<sub>`` is small."""
    lines = re.split(r"<br\s*/?>", text, flags=re.I)
    return line_px + sum(_SMALL_LINE_PX if re.match(r"\s*<su[bp]>", t, flags=re.I) else line_px for t in lines[1:])


def _above_plot_px(fig: go.Figure) -> int:
    """What a figure draws between its title and the plot area: subplot titles (annotations anchored at the
    bottom to the top of the paper) and a legend placed above the plot."""
    above = 0
    for a in fig.layout.annotations or ():
        if a.yref == "paper" and a.y is not None and a.y >= 0.99 and a.yanchor == "bottom" and a.text:
            above = max(above, _lines_px(str(a.text), int(1.3 * (a.font.size or 12))))
    legend = fig.layout.legend
    if fig.layout.showlegend is not False and legend.y is not None and legend.y >= 1 and legend.yanchor != "top":
        above += _TITLE_LINE_PX
    return above


def finish(fig: go.Figure) -> go.Figure:
    """The house look of a figure, the one rule for every figure the kit draws (builders call it; a notebook
    passes its own figures through ``ql.figures.finish``): the theme-neutral template where none of ours is set,
    and the top TOOLBAR_PX of the figure left to plotly's toolbar, so no title, subplot title or legend is ever
    under it at any width. A title sits at the top-left corner just below that strip; the figure's top margin,
    its height (when set) and a legend placed from the top of the figure move down with it, so the plot area
    keeps its size. Idempotent (a title already below the strip is not moved again). Returns ``fig``."""
    if fig.layout.template.layout.paper_bgcolor != "rgba(0,0,0,0)":  # plotly's default, not one of ours
        fig.update_layout(template=template())
    top = fig.layout.margin.t
    title = fig.layout.title
    if title.text:
        lines = len(re.split(r"<br\s*/?>", str(title.text), flags=re.I))
        pad = TOOLBAR_PX + (_MULTILINE_LIFT_PX if lines > 1 else 0)
        placed = title.yref == "container" and title.pad.t == pad
        subtitle = _SUBTITLE_PX if title.subtitle.text else 0
        need = TOOLBAR_PX + _lines_px(str(title.text), _TITLE_LINE_PX) + subtitle + _above_plot_px(fig) + _GAP_PX
        moved = 0 if placed or top is None else TOOLBAR_PX - _OLD_TITLE_TOP_PX
        new_top = max(need, _PLOTLY_TOP_MARGIN_PX if top is None else top + moved)
        fig.update_layout(title=dict(x=0, xanchor="left", yref="container", y=1, yanchor="top", pad=dict(t=pad, l=8)))
    else:
        need = TOOLBAR_PX + _above_plot_px(fig) + _GAP_PX
        new_top = max(need, _PLOTLY_TOP_MARGIN_PX if top is None else top)
    grow = new_top - (_PLOTLY_TOP_MARGIN_PX if top is None else top)
    height, legend = fig.layout.height, fig.layout.legend
    if grow > 0 and height:
        if legend.yref == "container" and legend.y is not None:  # placed from the figure's top: moves down too
            fig.update_layout(legend=dict(y=1 - ((1 - legend.y) * height + grow) / (height + grow)))
        fig.update_layout(height=height + grow)
    fig.update_layout(margin=dict(t=new_top))
    return fig


def themed(builder: Callable[..., go.Figure]) -> Callable[..., go.Figure]:
    """Decorator: the builder's figure goes through :func:`finish`."""

    @wraps(builder)
    def build(*args: Any, **kwargs: Any) -> go.Figure:
        return finish(builder(*args, **kwargs))

    return build
