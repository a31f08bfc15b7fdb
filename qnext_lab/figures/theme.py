"""Light and dark looks for figures and HTML panes, so views read well in either JupyterLab theme.

Figures: :func:`template` returns a plotly template for a light or dark page; backgrounds are transparent
(the notebook's own colour shows through), text and grid colours are chosen for that page. Builders set no
background colours of their own, so a widget can restyle a live figure by setting ``layout.template``.
HTML panes: :data:`PANE` and the tints use JupyterLab's CSS variables (with light fallbacks for exported
files and nbviewer), so text follows the theme instead of sitting light-on-light. Knows nothing about
widgets or data.

    fig.update_layout(template=template(dark=True))
    f'<div style="{PANE}">…</div>'
"""

from __future__ import annotations

from functools import lru_cache

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


@lru_cache(maxsize=2)
def template(dark: bool = False) -> go.layout.Template:
    """A plotly template for a light (default) or dark page, with transparent backgrounds."""
    base = pio.templates["plotly_dark" if dark else "plotly_white"]
    out = go.layout.Template(base)
    text = "#e6e6e6" if dark else "#2a2a2a"
    grid = "rgba(255,255,255,0.14)" if dark else "rgba(0,0,0,0.10)"
    out.layout.update(
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        font=dict(color=text),
        xaxis=dict(gridcolor=grid, zerolinecolor=grid, linecolor=grid),
        yaxis=dict(gridcolor=grid, zerolinecolor=grid, linecolor=grid),
        hoverlabel=dict(font=dict(color="#111111"), bgcolor="#fafafa"),
        modebar=dict(bgcolor="rgba(0,0,0,0)", color="#9a9a9a", activecolor=text),
    )
    return out


def badge(text: str, background: str, css_class: str) -> str:
    """An inline label with white text on ``background`` (``text`` must already be escaped)."""
    return (
        f'<span class="{css_class}" style="background:{background};color:#ffffff;border-radius:3px;'
        f'padding:1px 6px;font-weight:bold;font-family:var(--jp-ui-font-family, sans-serif)">{text}</span>'
    )
