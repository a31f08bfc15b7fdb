"""Closing a widget tree: every descendant widget's front-end model is closed once, children first.

``ipywidgets.Box.close`` closes only the box itself; its children keep their comms (and, for plotly's
``FigureWidget``, kilobytes of JavaScript state) until the kernel ends. The kit's widgets call
:func:`close_tree` from their ``close()`` after stopping their workers. Knows nothing about models.

    close_tree(widget)   # widget and everything inside it
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets


def close_tree(root: widgets.Widget, *, keep_root: bool = True) -> None:
    """Close every widget below ``root`` (children first); also ``root`` unless ``keep_root``.

    Nested kit widgets (``RoutingHeatmap`` inside ``ThinkCompare``) are closed through their own ``close``, so
    their workers stop too. ``keep_root=True`` is for a widget's own ``close``, which ends with ``super().close()``.
    """
    seen: set[int] = set()

    def visit(widget: Any, is_root: bool) -> None:
        if id(widget) in seen or not isinstance(widget, widgets.Widget):
            return
        seen.add(id(widget))
        if not is_root and getattr(widget, "_qnext_closable", False):
            widget.close()  # a kit widget: stops its own workers, then its own tree
            return
        for child in getattr(widget, "children", ()) or ():
            visit(child, False)
        if not (is_root and keep_root):
            widget.close()

    visit(root, True)
