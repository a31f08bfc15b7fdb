"""Pure figure builders: data in, plotly figure (or escaped HTML) out.

No widgets and no model calls live here; the widgets in ``qnext_lab.widgets`` wire controls to these
functions, and tests call them directly. The builders below are importable from ``qnext_lab.figures``
(loaded on first use, so importing the package does not import plotly).

    import qnext_lab as ql
    fig = ql.figures.expert_heatmap(trace, layer=3)          # tokens x experts of decoder layer 3

Modules: ``routing`` (heatmaps, load bars, coloured text), ``compare`` (expert use of two traces),
``selection`` (which past tokens a sparse-attention layer kept, beside the experts), ``alignment`` (the
runtime's blocks and padding), ``offload`` (cache hit rates, misses, offload speed), ``agent`` (an agent episode and its routing by phase), ``palette`` (one colour per expert), ``escape`` (token
text made safe for HTML and plotly), ``answers`` (an answer on screen: thinking, answer box, right/wrong badge,
note), ``fragments`` (small escaped HTML pieces of the views), ``export`` (standalone offline HTML files), ``numbers`` (how every quantity is written, with its unit),
``theme`` (light, dark and theme-neutral looks; ``finish(fig)``, the house rule every builder applies, for a
notebook's own figures: the kit's template, the title below a strip left to plotly's toolbar), ``words`` (a builder's
English labels with a view's language laid over them), ``frames`` (a table builder's check that it got the DataFrame
it draws), ``article`` (the Qwen3-Next article's numbers checked),
``parallel`` (one budget, one long chain vs N chains + vote), ``specialisation`` (expert preference and routing
overlap against a permutation baseline), ``budget`` and
``analysis`` (owned by those layers).
"""

from __future__ import annotations

from .._lazy import lazy_exports

# public name -> module of this package (imported on first access; see qnext_lab/_lazy.py)
__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "alignment_figure": "alignment",
        "budget_curve": "budget",
        "agent_episode_html": "agent",
        "phase_lift": "agent",
        "phase_lift_figure": "agent",
        "drift_figure": "analysis",
        "expert_color": "palette",
        "expert_heatmap": "routing",
        "expert_load_bars": "routing",
        "expert_use": "compare",
        "expert_use_difference": "compare",
        "finish": "theme",
        "flips_figure": "parallel",
        "hit_rate_figure": "offload",
        "layer_map": "routing",
        "miss_heatmap": "offload",
        "mark_budget": "budget",
        "overlap_figure": "specialisation",
        "padding_waste_figure": "alignment",
        "routing_text_html": "routing",
        "selection_beside_experts": "selection",
        "selection_heatmap": "selection",
        "specialisation_figure": "specialisation",
        "split_budget_figure": "parallel",
        "throughput_ratio_figure": "article",
        "speed_html": "offload",
        "window_bounds": "routing",
        "write_html": "export",
        "bytes_text": "numbers",
        "count_text": "numbers",
        "number_text": "numbers",
        "rate_text": "numbers",
        "seconds_text": "numbers",
        "share_text": "numbers",
    },
)
