"""Token text made safe for HTML and for plotly labels.

Token text comes from a tokenizer and from model output, so it is untrusted: a token such as
``<img src=x onerror=alert(1)>`` must show as text in hover labels, tick labels, HTML panes and exported
files. Everything that puts token text into a figure or an HTML string goes through this module.

Invisible characters are made visible too (``reveal``): bidi controls (U+202A-U+202E, U+2066-U+2069, U+200E/F,
U+061C) can reorder what a reader sees (a tool result or token whose text reads "abc" but is "cba"), and
zero-width and other format characters (U+200B-U+200D, U+2060-U+2064, U+FEFF, U+00AD, tag characters
U+E0000-U+E007F, Hangul fillers) hide text; control characters other than newline, tab and carriage return
too. Each shows as a marked escape such as ``⟨U+202E⟩``: plain text, so it is safe in element content,
attribute values, plotly hover text and exported files alike. Knows nothing about traces or widgets.

    from qnext_lab.figures.escape import token_label
    token_label("<b>\\n")   # '&lt;b&gt;↵'
    escape_text("abc\u202edef")   # 'abc⟨U+202E⟩def'
"""

from __future__ import annotations

import html
import re

# Characters that change or hide what is shown: C0/C1 controls (not \t \n \r), bidi controls and marks,
# zero-width and invisible format characters, line/paragraph separators, Hangul fillers, tag characters.
_HIDDEN = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\xad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f"
    "\u200b-\u200f\u2028-\u202e\u2060-\u206f\u3164\ufeff\uffa0\ufff9-\ufffb\U000e0000-\U000e007f]"
)


def reveal(text: str) -> str:
    """``text`` with every bidi control, zero-width or control character replaced by a visible ``⟨U+XXXX⟩``."""
    text = str(text)
    if _HIDDEN.search(text) is None:
        return text
    return _HIDDEN.sub(lambda m: f"⟨U+{ord(m.group()):04X}⟩", text)


# Whitespace made visible so that a space or a newline token can be seen and hovered.
_VISIBLE = {"\n": "↵", "\r": "␍", "\t": "⇥"}


def escape_text(text: str) -> str:
    """HTML-escape ``text`` (quotes included), for element content and attribute values alike, with invisible
    and reordering characters revealed (``reveal``)."""
    return html.escape(reveal(text), quote=True)


def token_label(token: str, *, max_chars: int = 24) -> str:
    """One token as a short, escaped, single-line label (whitespace made visible)."""
    text = reveal(token)
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
