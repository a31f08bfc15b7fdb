"""Pure figure builders: data in, plotly figure (or escaped HTML) out.

No widgets and no model calls live here; the widgets in ``qnext_lab.widgets`` wire controls to these
functions, and tests call them directly.

    from qnext_lab.figures.routing import expert_heatmap
    fig = expert_heatmap(trace, layer=0)          # tokens x experts for one MoE layer

Modules: ``routing`` (heatmaps, load bars, coloured text), ``compare`` (expert use of two traces),
``palette`` (one colour per expert), ``escape`` (token text made safe for HTML and plotly),
``export`` (standalone offline HTML files), ``budget`` and ``analysis`` (owned by those layers).
"""
