"""What the kit does by itself for the front end a view is shown in (called once, when the first view is built).

JupyterLab 4 and Notebook 7 need nothing: the widget manager, anywidget (PageWatch) and plotly's renderer
(``jupyterlab-plotly``, what ``PlotPane`` figures use) are installed with the kit. Google Colab draws the core
ipywidgets itself but third-party widgets only through its custom widget manager, which a notebook must switch on
(``google.colab.output.enable_custom_widget_manager()``): without it PageWatch is not drawn, so figures keep their
default width and the light theme. The kit switches it on when it runs in Colab. Colab has no plotly renderer for
``application/vnd.plotly.v1+json``; it shows each figure's ``text/html`` (plotly.js from its CDN). VS Code loads
widget JavaScript from the kernel's ``share/jupyter/nbextensions`` (anywidget ships one) and draws plotly's MIME
type itself. See docs/front_ends.md for what is and is not verified. Knows nothing about models or figures.

    prepare_front_end()   # idempotent; a no-op outside Colab
"""

from __future__ import annotations

import sys
import warnings

_prepared = False


def in_colab() -> bool:
    """True inside a Google Colab kernel (its ``google.colab`` package is imported by the kernel at start-up)."""
    return "google.colab" in sys.modules


def prepare_front_end() -> None:
    """Switch on what the current front end needs to draw the kit's widgets (once per kernel)."""
    global _prepared
    if _prepared:
        return
    _prepared = True
    if not in_colab():
        return
    try:
        from google.colab import output  # type: ignore[import-not-found]

        output.enable_custom_widget_manager()
    except Exception as exc:  # an old or unusual Colab: the views still work, at default width and light theme
        warnings.warn(
            f"qnext-lab: could not switch on Colab's custom widget manager ({exc}); figures keep their default "
            "width. Run `from google.colab import output; output.enable_custom_widget_manager()` yourself.",
            stacklevel=3,
        )
