"""Small HTML fragments of the kit's views, each escaping the text it is given: a bold or italic label, a heading,
a paragraph, a "title — detail" line, a side-by-side pane of a static copy, a line template filled with values.

The views' headers, hints and the parts of their static copies are built here, so no widget writes a tag.
Everything passed in is text (a prompt, a status, a translated label: any of it may carry model output) and is
escaped; only the arguments named ``html`` (or flagged ``escaped=True``) take HTML that a builder of this package
has already made. Knows nothing about widgets or models.

    title_line("Thinking budget", "What is 478 + 356?")   # '<b>Thinking budget</b> — What is 478 + 356?'
    filled("budget {budget} · {finish}", bold=("budget",), budget=8, finish="answered")
"""

from __future__ import annotations

from collections.abc import Iterable

from .escape import escape_text
from .theme import MUTED, PANE


def bold(text: str) -> str:
    """``<b>text</b>``."""
    return f"<b>{escape_text(text)}</b>"


def italic(text: str) -> str:
    """``<i>text</i>``: a hint or a line that stands in for what is not there yet."""
    return f"<i>{escape_text(text)}</i>"


def small(text: str) -> str:
    """``<small>text</small>``: a hint under a control."""
    return f"<small>{escape_text(text)}</small>"


def heading(text: str, style: str = "") -> str:
    """``<h3>text</h3>`` (``style``: CSS of the heading)."""
    attrs = f" style='{style}'" if style else ""
    return f"<h3{attrs}>{escape_text(text)}</h3>"


def paragraph(text: str, *, italic: bool = False, escaped: bool = False) -> str:
    """``<p>text</p>``, in italics with ``italic``; ``escaped``: ``text`` is HTML a builder already made."""
    inner = text if escaped else escape_text(text)
    return f"<p><i>{inner}</i></p>" if italic else f"<p>{inner}</p>"


def title_line(title: str, detail: str, notes: Iterable[str] = ()) -> str:
    """A view's header: the bold title, a dash and what it shows (``<b>title</b> — detail``), then each of
    ``notes`` on a line of its own in italics (what the reader must know to read the view right)."""
    more = "".join(f"<br>{italic(note)}" for note in notes)
    return f"<b>{escape_text(title)}</b> — {escape_text(detail)}{more}"


def filled(template: str, *, bold: Iterable[str] = (), **values: object) -> str:
    """``template`` (a ``str.format`` line, e.g. a translated label) with every value escaped, those named in
    ``bold`` in ``<b>``: a line of counts where the number the user moved stands out."""
    strong = set(bold)
    unknown = strong - set(values)
    if unknown:
        raise ValueError(f"bold names {sorted(unknown)}, which are not among the values {sorted(values)}")
    shown = {k: f"<b>{escape_text(str(v))}</b>" if k in strong else escape_text(str(v)) for k, v in values.items()}
    return escape_text(template).format(**shown)


def side_pane(title: str, *html: str) -> str:
    """One side of a side-by-side view in a static copy: its heading over ``html`` (already escaped HTML)."""
    return f'<div class="qnext-pane"><h3>{escape_text(title)}</h3>{"".join(html)}</div>'


def static_copy_html(name: str, html: str) -> str:
    """A view's static copy, saved beside the live widget: a line saying it is a copy of view ``name``, then
    ``html`` (escaped HTML: what the view showed)."""
    note = (
        f'<div style="color:{MUTED};font-style:italic">qnext-lab {escape_text(name)}: a static copy of the live '
        "view as it was displayed. Run the notebook to use the live view.</div>"
    )
    return f'<div class="qnext-static" style="{PANE}">{note}{html}</div>'
