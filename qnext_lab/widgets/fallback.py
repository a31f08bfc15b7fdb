"""A static stand-in for a live widget, saved in the notebook next to it.

A saved notebook keeps each output's MIME bundle; the live widget's own entry only points at front-end state
that is gone once the kernel stops (nbviewer and GitHub cannot draw it). :func:`widget_bundle` adds a small
``text/html`` entry to the widget's bundle: what the view shows when it is displayed (answers, marks, the
text coloured by expert: escaped HTML of a few kilobytes, no plotly.js), and a line saying the live view
needs a running kernel. Views whose answers arrive later say so (JupyterLab only updates an output while
its own cell runs, so a later answer cannot be written into the saved bundle). Knows nothing about models.

    class MyView(widgets.VBox):
        def _repr_mimebundle_(self, **kwargs):
            return widget_bundle(super()._repr_mimebundle_(**kwargs), "MyView", self.snapshot_html())
"""

from __future__ import annotations

from typing import Any

from ..figures.fragments import static_copy_html


def widget_bundle(bundle: Any, name: str, body_html: str) -> Any:
    """``bundle`` (ipywidgets' MIME bundle) with a ``text/html`` stand-in built from ``body_html`` (escaped)."""
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    if not isinstance(data, dict):
        return bundle
    data = {**data, "text/html": static_copy_html(name, body_html)}
    return (data, bundle[1]) if isinstance(bundle, tuple) else data
