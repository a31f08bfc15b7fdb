"""PageWatch: an invisible widget that tells Python the page's theme and the width of the pane it sits in.

Plotly draws a figure 700 px wide when its layout gives no width, whatever its pane; in a half-width pane that
figure is clipped behind scrollbars. PageWatch's few lines of JavaScript (inlined: no CDN) report the width of
the box they sit in (``width``, 0 while the box is hidden, e.g. in a closed tab) each time it changes, so a view
draws its figures at that width (``view.KitView``); they also read JupyterLab's theme (``data-jp-theme-light``
on ``<body>``, watched for changes) into the ``dark`` trait, so a view can restyle its figures
(``figures.theme.template``). Knows nothing about figures or models.

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


# A view drawn from a notebook's saved widget state (no kernel): one line says so (``KitView``'s saved note), instead
# of ipywidgets' "disconnected" icon in front of every label and slider of the view.
_CSS = """
.qnext-view.jupyter-widgets-disconnected::before, .qnext-view .jupyter-widgets-disconnected::before { display: none; }
.qnext-view.jupyter-widgets-disconnected > .qnext-saved-note { display: block !important; }
"""


class PageWatch(anywidget.AnyWidget):
    """Reports the page's theme (``dark``) and its own width (``width``, px)."""

    _esm = _ESM
    _css = _CSS
    dark = traitlets.Bool(False, help="JupyterLab's theme is dark").tag(sync=True)
    width = traitlets.Int(0, help="width of the box holding this widget, in CSS pixels (0 until drawn)").tag(sync=True)


def let_shrink(root: widgets.Widget) -> None:
    """Let every box and HTML pane under ``root`` be narrower than its content (CSS ``min-width: 0``).

    Flex items default to ``min-width: auto``: one 700 px figure would widen every box around it, past the pane,
    and PageWatch would then measure the widened box instead of the pane. Plotly figures are left alone (their
    ``layout`` is the figure's); their width is set from PageWatch's measure instead (``PlotPane.set_width``).
    """
    stack = [root]
    while stack:
        widget = stack.pop()
        if isinstance(widget, (widgets.Box, widgets.HTML)) and not widget.layout.min_width:
            widget.layout.min_width = "0"
        stack.extend(getattr(widget, "children", ()) or ())
