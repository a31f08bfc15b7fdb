"""Token text made safe for HTML and for plotly labels.

Token text comes from a tokenizer and from model output, so it is untrusted: a token such as
``<img src=x onerror=alert(1)>`` must show as text in hover labels, tick labels, HTML panes and exported
files. Everything that puts token text into a figure or an HTML string goes through this module.
Knows nothing about traces or widgets.

    from qnext_lab.figures.escape import token_label
    token_label("<b>\\n")   # '&lt;b&gt;↵'
"""

from __future__ import annotations

import html

# Whitespace made visible so that a space or a newline token can be seen and hovered.
_VISIBLE = {"\n": "↵", "\r": "␍", "\t": "⇥"}


def escape_text(text: str) -> str:
    """HTML-escape ``text`` (quotes included), for element content and attribute values alike."""
    return html.escape(str(text), quote=True)


def token_label(token: str, *, max_chars: int = 24) -> str:
    """One token as a short, escaped, single-line label (whitespace made visible)."""
    text = str(token)
    if len(text) > max_chars:
        text = text[: max_chars - 1] + "…"
    if text == "":
        return "∅"
    if text.strip() == "":
        text = text.replace(" ", "␣")
    for raw, shown in _VISIBLE.items():
        text = text.replace(raw, shown)
    return escape_text(text)


def text_html(text: str) -> str:
    """Multi-line untrusted text as escaped HTML that keeps its line breaks."""
    return escape_text(text).replace("\n", "<br>")
