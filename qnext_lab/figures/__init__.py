"""Pure figure builders: data in, plotly figure (or escaped HTML) out.

No widgets and no model calls live here; the widgets in ``qnext_lab.widgets`` wire controls to these
functions, and tests call them directly. The builders below are importable from ``qnext_lab.figures``
(loaded on first use, so importing the package does not import plotly).

    import qnext_lab as ql
    fig = ql.figures.expert_heatmap(trace, layer=3)          # tokens x experts of decoder layer 3

Modules: ``routing`` (heatmaps, load bars, coloured text), ``compare`` (expert use of two traces),
``alignment`` (the runtime's blocks and padding), ``palette`` (one colour per expert), ``escape`` (token
text made safe for HTML and plotly), ``export`` (standalone offline HTML files), ``budget`` and
``analysis`` (owned by those layers).
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "expert_heatmap": "routing",
    "layer_map": "routing",
    "expert_load_bars": "routing",
    "routing_text_html": "routing",
    "window_bounds": "routing",
    "expert_use": "compare",
    "expert_use_difference": "compare",
    "alignment_figure": "alignment",
    "padding_waste_figure": "alignment",
    "budget_curve": "budget",
    "drift_figure": "analysis",
    "mark_budget": "budget",
    "expert_color": "palette",
    "write_html": "export",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
