"""How expert use differs between two traces (thinking vs non-thinking, or two models).

Pure functions: two RoutingTraces in, a plotly figure out. Expert use is each expert's share of a layer's
routed slots; the difference view is a layers x experts heatmap of ``share_a - share_b`` on a diverging
scale (red: used more by A, blue: used more by B). Prompt tokens are left out by default, because the two
runs usually share most of their prompt and the question is what the *generated* tokens did.
Shares are counted by ``analysis.load``. Knows the RoutingTrace fields and nothing about models or widgets.

    fig = expert_use_difference(thinking.trace, plain.trace, labels=("thinking", "non-thinking"))
"""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go

from ..analysis.load import routed_shares
from .escape import escape_text
from .routing import TraceArrays, expert_ticks, trace_arrays
from .theme import template, themed
from .words import with_words

# The words on these figures (English); a view passes its language's as ``words=`` (missing keys stay English).
LABELS: dict[str, str] = {
    "use_difference": "Expert use: {a} − {b}",
    "use_detail": "mean total-variation distance {distance} · red: more in {a}, blue: more in {b}",
    "use_of": "Expert use: {label}",
    "expert": "expert",
    "layer": "layer",
    "difference": "difference",
    "share": "share",
}


def expert_use(trace: Any, *, exclude_prompt: bool = True) -> np.ndarray:
    """Share of each layer's routed slots taken by each expert, shape (L, E); rows sum to 1 (or 0 if empty)."""
    arrays = trace_arrays(trace)
    generated = None
    if exclude_prompt and arrays.phase is not None and (arrays.phase != 0).any():
        generated = arrays.phase != 0  # (N,)
    return routed_shares(arrays.ids, arrays.num_experts, generated).numpy()  # (L, E)


@themed
def expert_use_difference(
    trace_a: Any,
    trace_b: Any,
    *,
    labels: tuple[str, str] = ("A", "B"),
    exclude_prompt: bool = True,
    title: str | None = None,
    words: dict[str, str] | None = None,
) -> go.Figure:
    """Layers x experts heatmap of ``expert_use(a) - expert_use(b)`` with both shares in the hover."""
    words = with_words(LABELS, words)
    a, b = trace_arrays(trace_a), trace_arrays(trace_b)
    if (a.num_layers, a.num_experts) != (b.num_layers, b.num_experts):
        raise ValueError(
            f"traces must have the same MoE layers and experts to compare, got {a.num_layers}x{a.num_experts} "
            f"and {b.num_layers}x{b.num_experts}; compare models of one architecture (e.g. Instruct vs Thinking)"
        )
    use_a, use_b = expert_use(a, exclude_prompt=exclude_prompt), expert_use(b, exclude_prompt=exclude_prompt)
    diff = use_a - use_b  # (L, E)
    name_a, name_b = escape_text(labels[0]), escape_text(labels[1])
    hover = [
        [
            f"layer {a.layer_indices[layer]} · expert {e}<br>{name_a}: {use_a[layer, e]:.1%}<br>"
            f"{name_b}: {use_b[layer, e]:.1%}<br>difference {diff[layer, e]:+.1%}"
            for e in range(a.num_experts)
        ]
        for layer in range(a.num_layers)
    ]
    limit = float(max(np.abs(diff).max(), 1e-6))
    distance = 0.5 * np.abs(diff).sum(axis=1)  # (L,) total-variation distance per layer
    detail = words["use_detail"].format(distance=f"{distance.mean():.2f}", a=name_a, b=name_b)
    return _layers_by_experts(
        a,
        diff,
        hover,
        title or f"{words['use_difference'].format(a=name_a, b=name_b)}<br><sup>{detail}</sup>",
        words,
        heatmap=dict(
            colorscale="RdBu",
            reversescale=True,
            zmid=0.0,
            zmin=-limit,
            zmax=limit,
            colorbar=dict(title=dict(text=words["difference"]), tickformat="+.0%"),
        ),
    )


@themed
def expert_use_figure(
    trace: Any,
    *,
    label: str = "",
    exclude_prompt: bool = True,
    title: str | None = None,
    words: dict[str, str] | None = None,
) -> go.Figure:
    """Layers x experts heatmap of one trace's ``expert_use`` (which experts its generated tokens went to)."""
    words = with_words(LABELS, words)
    arrays = trace_arrays(trace)
    use = expert_use(arrays, exclude_prompt=exclude_prompt)  # (L, E)
    name = escape_text(label)
    hover = [
        [
            f"layer {arrays.layer_indices[layer]} · expert {e}<br>{name} {use[layer, e]:.1%} of the routed slots"
            for e in range(arrays.num_experts)
        ]
        for layer in range(arrays.num_layers)
    ]
    return _layers_by_experts(
        arrays,
        use,
        hover,
        title or words["use_of"].format(label=name),
        words,
        heatmap=dict(coloraxis="coloraxis"),  # the template's weight scale: strongest = most visible on the page
        layout=dict(coloraxis=dict(cmin=0.0, colorbar=dict(title=dict(text=words["share"]), tickformat=".0%"))),
    )


def _layers_by_experts(
    arrays: TraceArrays,
    z: np.ndarray,
    hover: list[list[str]],
    title: str,
    words: dict[str, str],
    *,
    heatmap: dict,
    layout: dict | None = None,
) -> go.Figure:
    """The layers x experts heatmap both builders draw: ``z`` (L, E) with ``hover`` per cell, a layer per row."""
    return go.Figure(
        data=[
            go.Heatmap(
                z=z,
                x=np.arange(arrays.num_experts),
                y=[f"L{i}" for i in arrays.layer_indices],
                text=hover,
                hovertemplate="%{text}<extra></extra>",
                **heatmap,
            )
        ],
        layout=dict(
            # short and left-aligned: plotly's toolbar sits at the top right
            title=dict(text=title, x=0, xanchor="left"),
            xaxis=dict(title=dict(text=words["expert"]), **expert_ticks(arrays.num_experts)),
            yaxis=dict(title=dict(text=words["layer"]), autorange="reversed", type="category"),
            height=max(280, 26 * arrays.num_layers + 180),
            margin=dict(t=80, l=60, r=20, b=50),
            template=template(),
            **(layout or {}),
        ),
    )
