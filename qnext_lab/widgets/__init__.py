"""Thin ipywidgets over ``qnext_lab.figures`` and ``qnext_lab.thinking``.

One widget per file: ``RoutingHeatmap`` (routing_heatmap.py), ``ThinkCompare`` (think_compare.py),
``BudgetTuner`` (budget_tuner.py), ``lab()`` (lab.py), ``ExpertLab`` (expert_lab.py). Model work runs on a
background worker (worker.py) where a newer request supersedes an older one, so the kernel never freezes.
Every view has ``.to_html(path)`` for a standalone offline file.

    import qnext_lab as ql
    ql.RoutingHeatmap(trace)
"""
