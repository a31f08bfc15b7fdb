"""PageWatch: an invisible widget that tells Python the page's theme and makes plotly fit its pane.

Plotly draws a ``FigureWidget`` at 700 px when its element has no width yet (the widget is drawn before
JupyterLab attaches it), and only resizes on a window ``resize`` event; in a half-width pane that figure is
clipped behind scrollbars. PageWatch's few lines of JavaScript (inlined: no CDN) watch the width of the box
they sit in and fire one ``resize`` when it changes, so every figure re-measures its pane. They also read
JupyterLab's theme (``data-jp-theme-light`` on ``<body>``, watched for changes) into the ``dark`` trait, so
a view can restyle its figures (``figures.theme.template``). Knows nothing about figures or models.

    watch = PageWatch(); watch.observe(lambda c: restyle(c["new"]), names=["dark"])
"""

from __future__ import annotations

import anywidget
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
    return () => { sizes.disconnect(); themes.disconnect(); if (frame) cancelAnimationFrame(frame); };
  }
};
"""


class PageWatch(anywidget.AnyWidget):
    """Reports the page's theme (``dark``) and its own width (``width``, px); refits plotly figures on resize."""

    _esm = _ESM
    dark = traitlets.Bool(False, help="JupyterLab's theme is dark").tag(sync=True)
    width = traitlets.Int(0, help="width of the box holding this widget, in CSS pixels (0 until drawn)").tag(sync=True)
