"""Figures for expert offloading: hit rate per layer by cache policy, the routing heatmap with the misses marked,
and where a decode step's time goes. Pure: data in (``expert_cache`` DataFrames, a miss mask, an ``OffloadCost``),
plotly figure or escaped HTML out; no widgets, no model calls.

    hit_rate_figure({"lru": expert_cache(trace, 8), "belady": expert_cache(trace, 8, "belady")}, current="lru")
    miss_heatmap(trace, cache_misses(trace, 8), layer=3)
    speed_html(model_cost(config, offload=dict(hit_rate=0.6)).offload)

Dimension legend: L = layers, N = tokens, k = top-k.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .escape import escape_text
from .routing import DEFAULT_WIDTH_PX, expert_heatmap, layer_position, trace_arrays

__all__ = ["hit_rate_figure", "miss_heatmap", "no_fit_html", "speed_html"]

_POLICY_COLOURS = {"lru": "#4C78A8", "lfu": "#F58518", "static": "#54A24B", "belady": "#9D9D9D"}


def hit_rate_figure(
    results: Mapping[str, pd.DataFrame], *, current: str | None = None, title: str | None = None
) -> go.Figure:
    """Grouped bars: hit rate per decoder layer, one bar per policy (``{policy: expert_cache(...)}``).

    The ``current`` policy is drawn solid, the others faded; Belady's bar is the optimum the others chase.
    """
    if not results:
        raise ValueError("results is empty: pass {policy: expert_cache(trace, slots, policy)}")
    fig = go.Figure()
    for policy, df in results.items():
        missing = {"layer", "hit_rate", "hits", "requests"} - set(df.columns)
        if missing:
            raise ValueError(f"results[{policy!r}] lacks columns {sorted(missing)}: pass expert_cache's DataFrame")
        fig.add_trace(
            go.Bar(
                x=[str(v) for v in df["layer"]],
                y=df["hit_rate"],
                name=policy,
                marker_color=_POLICY_COLOURS.get(policy, "#888888"),
                opacity=1.0 if current in (None, policy) else 0.35,
                customdata=np.stack([df["hits"], df["requests"]], axis=-1),
                hovertemplate=f"{policy}: %{{y:.1%}} (%{{customdata[0]}} of %{{customdata[1]}} requests)<extra></extra>",
            )
        )
    slots = next(iter(results.values())).attrs.get("slots")
    fig.update_layout(
        barmode="group",
        title=dict(text=title or (f"Hit rate per layer, {slots} slots" if slots is not None else "Hit rate per layer")),
        xaxis=dict(title=dict(text="decoder layer"), type="category"),
        yaxis=dict(title=dict(text="hit rate"), range=[0, 1], tickformat=".0%"),
        legend=dict(orientation="h", y=-0.25),
        height=320,
        margin=dict(l=60, r=20, t=50, b=60),
    )
    return fig


def miss_heatmap(
    trace: Any,
    misses: Any,
    layer: int | None = None,
    *,
    window: tuple[int, int] | None = None,
    width_px: int = DEFAULT_WIDTH_PX,
    title: str | None = None,
) -> go.Figure:
    """``figures.routing.expert_heatmap`` with an x on every request that missed (``cache_misses``'s (L, N, k) mask)."""
    arrays = trace_arrays(trace)
    mask = np.asarray(misses.numpy() if hasattr(misses, "numpy") else misses, dtype=bool)
    if mask.shape != arrays.ids.shape:
        raise ValueError(
            f"misses has shape {mask.shape}, the trace's routing {arrays.ids.shape}: use cache_misses(trace)"
        )
    pos = layer_position(arrays, layer)
    start, stop = window if window is not None else (0, arrays.num_tokens)
    fig = expert_heatmap(arrays, arrays.layer_indices[pos], window=(start, stop), width_px=width_px, title=title)
    rows, ranks = np.nonzero(mask[pos, start:stop])  # (M,), (M,)
    fig.add_trace(
        go.Scatter(
            x=rows + start,
            y=arrays.ids[pos, start:stop][rows, ranks],
            mode="markers",
            marker=dict(symbol="x-thin", size=7, line=dict(width=1.5, color="#d62728")),
            name=f"miss ({rows.size})",
            hoverinfo="skip",
        )
    )
    if not fig.layout.showlegend:  # the heatmap has its own legend row when it marks zero-computation picks
        fig.update_layout(showlegend=True, legend=dict(orientation="h", y=1.12, x=1, xanchor="right"))
    return fig


def speed_html(cost: Any, *, hit_rate_note: str = "") -> str:
    """One paragraph: predicted tokens/s, slots, hit rate, and the step time split by tier (escaped HTML)."""
    total = cost.time_gpu + cost.time_transfer + cost.time_disk + cost.time_overhead
    link = "host link" if cost.mode == "fetch" else "CPU reading RAM"
    parts = [("GPU memory", cost.time_gpu), (link, cost.time_transfer), ("NVMe", cost.time_disk)]
    if cost.time_overhead:
        parts.append(("per-layer overhead", cost.time_overhead))
    split = ", ".join(f"{escape_text(name)} {t * 1e3:.2f} ms" for name, t in parts if t > 0)
    note = f" ({escape_text(hit_rate_note)})" if hit_rate_note else ""
    return (
        f"<b>{cost.tokens_per_s:.1f} tokens/s</b> predicted for a batch of {cost.batch} on <i>{escape_text(cost.machine)}</i> "
        f"in {escape_text(cost.format)}: {cost.slots} of the experts per layer on the GPU (at most "
        f"{cost.max_slots} fit), hit rate {cost.hit_rate:.1%}{note}, {cost.misses_per_token:.0f} expert loads of "
        f"{cost.expert_bytes / 2**20:.2f} MiB per token. A step takes {total * 1e3:.2f} ms: {split}; "
        f"bound by <b>{escape_text(cost.bound)}</b>."
    )


def no_fit_html(reason: str) -> str:
    """In place of ``speed_html`` when the config's non-expert part does not fit the machine (``reason``: why)."""
    return f"<b>Does not fit:</b> {escape_text(reason)}"
