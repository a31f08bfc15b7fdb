"""Thin ipywidgets over ``qnext_lab.figures`` and ``qnext_lab.thinking``.

Every view is a ``KitView`` (view.py: page watch, theme, error pane, close, static copy) and draws its figures
in ``PlotPane``s (plot_pane.py: a plotly figure as an output, replaced on each change). One widget per file:
``RoutingHeatmap`` (routing_heatmap.py), ``ThinkCompare`` (think_compare.py),
``BudgetTuner`` (budget_tuner.py), ``lab()`` -> ``Dashboard`` (dashboard.py), ``ExpertSwitchboard``
(expert_switchboard.py), ``AgentView`` (agent_view.py). Model work runs on a
background worker (worker.py) where a newer request supersedes an older one, so the kernel never freezes.
Every view has ``.to_html(path)`` for a standalone offline file.

    import qnext_lab as ql
    ql.RoutingHeatmap(trace)
"""

from __future__ import annotations

from .._lazy import lazy_exports

# public name -> module of this package (imported on first access; see qnext_lab/_lazy.py)
__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "AgentView": "agent_view",
        "BudgetTuner": "budget_tuner",
        "Dashboard": "dashboard",
        "ExpertSwitchboard": "expert_switchboard",
        "OffloadPlanner": "offload_planner",
        "PlotPane": "plot_pane",
        "RoutingHeatmap": "routing_heatmap",
        "ThinkCompare": "think_compare",
        "lab": "dashboard",
        "set_language": "i18n",
    },
)
