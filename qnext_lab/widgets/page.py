"""PageWatch: an invisible widget that tells Python the page's theme and makes plotly fit its pane.

Plotly draws a ``FigureWidget`` at 700 px when its element has no width yet (the widget is drawn before
JupyterLab attaches it), and only resizes on a window ``resize`` event; in a half-width pane that figure is
clipped behind scrollbars. PageWatch's few lines of JavaScript (inlined: no CDN) watch the width of the box
they sit in and fire one ``resize`` when it changes, so every figure re-measures its pane. They also read
JupyterLab's theme (``data-jp-theme-light`` on ``<body>``, watched for changes) into the ``dark`` trait, so
a view can restyle its figures (``figures.theme.template``), and count the view's plots that stayed blank
(``blank``) so the view can make them anew. Knows nothing about figures or models.

    watch = PageWatch(); watch.observe(lambda c: restyle(c["new"]), names=["dark"])
"""

from __future__ import annotations

import anywidget
import ipywidgets as widgets
import traitlets

_ESM = """
export default {
  render({ model, el }) {
    el.style.cssText = "width:100%;height:0;overflow:hidden;margin:0;padding:0";
    let lastWidth = -1, frame = 0;
    const fire = () => {
      frame = 0;
      const width = Math.round(el.getBoundingClientRect().width);
      if (width > 0 && width !== lastWidth) {
        lastWidth = width;
        window.dispatchEvent(new Event("resize"));
        model.set("width", width);
        model.save_changes();
      }
    };
    const sizes = new ResizeObserver(() => { if (!frame) frame = requestAnimationFrame(fire); });
    sizes.observe(el);
    const readTheme = () => {
      const light = document.body.getAttribute("data-jp-theme-light");
      const dark = light === "false";
      if (model.get("dark") !== dark) { model.set("dark", dark); model.save_changes(); }
    };
    const themes = new MutationObserver(readTheme);
    themes.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-light"] });
    readTheme();
    // plotly figures of this view (not of views nested in it) that were laid out but never drawn: anywidget
    // gives up on a model whose JavaScript takes over 2 s to start (a busy machine), leaving a blank plot
    let checks = 0;
    const blankSince = new WeakMap();  // plot element -> when it was first seen blank
    const checkBlank = () => {
      const root = el.closest(".qnext-view");
      if (!root) return;
      const now = performance.now();
      const blank = Array.from(root.querySelectorAll(".js-plotly-plot"))
        .filter(p => p.closest(".qnext-view") === root && (!p.data || p.data.length === 0))
        .filter(p => { if (!blankSince.has(p)) blankSince.set(p, now); return now - blankSince.get(p) > 5000; })
        .length;
      if (blank !== model.get("blank")) { model.set("blank", blank); model.save_changes(); }
    };
    const timer = setInterval(() => { checkBlank(); if (++checks >= 40) clearInterval(timer); }, 3000);
    return () => { sizes.disconnect(); themes.disconnect(); clearInterval(timer); if (frame) cancelAnimationFrame(frame); };
  }
};
"""


class PageWatch(anywidget.AnyWidget):
    """Reports the page's theme (``dark``) and its own width (``width``, px); refits plotly figures on resize."""

    _esm = _ESM
    dark = traitlets.Bool(False, help="JupyterLab's theme is dark").tag(sync=True)
    width = traitlets.Int(0, help="width of the box holding this widget, in CSS pixels (0 until drawn)").tag(sync=True)
    blank = traitlets.Int(0, help="plotly figures of this view the browser failed to draw (to be made anew)").tag(
        sync=True
    )


def let_shrink(root: widgets.Widget) -> None:
    """Let every box and HTML pane under ``root`` be narrower than its content (CSS ``min-width: 0``).

    Flex items default to ``min-width: auto``: one 700 px figure would widen every box around it, past the pane,
    and PageWatch would then measure the widened box instead of the pane. Plotly figures are left alone (their
    ``layout`` is the figure's); their width is set from PageWatch's measure instead (``figure_sync.fit_width``).
    """
    stack = [root]
    while stack:
        widget = stack.pop()
        if isinstance(widget, (widgets.Box, widgets.HTML)) and not widget.layout.min_width:
            widget.layout.min_width = "0"
        stack.extend(getattr(widget, "children", ()) or ())
