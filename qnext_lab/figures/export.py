"""Standalone, offline HTML export of figures and HTML fragments.

Every view's ``.to_html(path)`` ends here: one HTML file with plotly.js inlined once (no CDN, so it opens
offline and in air-gapped labs), each figure as a static plotly div, and escaped HTML fragments between
them. Fragments must already be escaped (the builders in this package do it); the page title is escaped here.
Knows nothing about widgets or models.

    write_html("routing.html", [fig, routing_text_html(trace)], title="Routing of my prompt")
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from .escape import escape_text

Part = go.Figure | str


def _figure_div(fig: go.Figure) -> str:
    return pio.to_html(go.Figure(fig), include_plotlyjs=False, full_html=False, config={"responsive": True})


def standalone_html(parts: Sequence[Part], *, title: str = "qnext-lab") -> str:
    """The HTML text of a standalone page holding ``parts`` in order (figures and HTML fragments)."""
    body = []
    for part in parts:
        if isinstance(part, str):
            body.append(f'<section class="qnext-html">{part}</section>')
        elif isinstance(part, go.Figure):
            body.append(f'<section class="qnext-figure">{_figure_div(part)}</section>')
        else:
            raise TypeError(f"export parts must be plotly figures or HTML strings, got {type(part).__name__}")
    safe_title = escape_text(title)
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{safe_title}</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:16px}section{margin-bottom:18px}"
        ".qnext-pane{border:1px solid #ddd;border-radius:4px;padding:8px}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script>'
        f"</head><body><h2>{safe_title}</h2>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def write_html(path: str | Path, parts: Sequence[Part], *, title: str = "qnext-lab") -> Path:
    """Write :func:`standalone_html` to ``path`` (parent folders created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(standalone_html(parts, title=title), encoding="utf-8")
    return path
