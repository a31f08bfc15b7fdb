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
from .theme import themed
from .words import with_words

__all__ = ["hit_rate_figure", "miss_heatmap", "no_fit_html", "speed_html"]

_POLICY_COLOURS = {"lru": "#4C78A8", "lfu": "#F58518", "static": "#54A24B", "belady": "#9D9D9D"}

# The words on these figures (English); a view passes its language's as ``words=`` (missing keys stay English).
LABELS: dict[str, str] = {
    "hit_rate_title": "Hit rate per layer, {slots} slots",
    "hit_rate_title_plain": "Hit rate per layer",
    "decoder_layer": "decoder layer",
    "hit_rate": "hit rate",
    "requests": "{hits} of {requests} requests",
    "miss": "miss ({count})",
    **{f"policy_{name}": name for name in _POLICY_COLOURS},
    "speed": (
        "<b>{rate} tokens/s</b> predicted for a batch of {batch} on <i>{machine}</i> in {format}: {slots} of the "
        "experts per layer on the GPU (at most {max_slots} fit), hit rate {hit_rate}{note}, {loads} expert loads "
        "of {size} MiB per token. A step takes {step} ms: {split}; bound by <b>{bound}</b>."
    ),
    **{f"tier_{name}": name for name in ("GPU memory", "host link", "NVMe", "per-layer overhead")},
    "tier_CPU RAM reads": "CPU reading RAM",
    "tier_sep": ", ",
    "note": " ({note})",
    "does_not_fit": "Does not fit:",
}


@themed
def hit_rate_figure(
    results: Mapping[str, pd.DataFrame],
    *,
    current: str | None = None,
    title: str | None = None,
    words: Mapping[str, str] | None = None,
) -> go.Figure:
    """Grouped bars: hit rate per decoder layer, one bar per policy (``{policy: expert_cache(...)}``).

    The ``current`` policy is drawn solid, the others faded; Belady's bar is the optimum the others chase.
    ``words``: the words on the figure (keys of ``LABELS``), e.g. a view's language; missing keys stay English.
    """
    words = with_words(LABELS, words)
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
                name=words.get(f"policy_{policy}", policy),
                marker_color=_POLICY_COLOURS.get(policy, "#888888"),
                opacity=1.0 if current in (None, policy) else 0.35,
                customdata=np.stack([df["hits"], df["requests"]], axis=-1),
                hovertemplate=f"{escape_text(words.get(f'policy_{policy}', policy))}: %{{y:.1%}} ("
                + words["requests"].format(hits="%{customdata[0]}", requests="%{customdata[1]}")
                + ")<extra></extra>",
            )
        )
    slots = next(iter(results.values())).attrs.get("slots")
    fig.update_layout(
        barmode="group",
        title=dict(
            text=title
            or (words["hit_rate_title"].format(slots=slots) if slots is not None else words["hit_rate_title_plain"])
        ),
        xaxis=dict(title=dict(text=words["decoder_layer"]), type="category"),
        yaxis=dict(title=dict(text=words["hit_rate"]), range=[0, 1], tickformat=".0%"),
        legend=dict(orientation="h", y=-0.25),
        height=320,
        margin=dict(l=60, r=20, t=50, b=60),
    )
    return fig


@themed
def miss_heatmap(
    trace: Any,
    misses: Any,
    layer: int | None = None,
    *,
    window: tuple[int, int] | None = None,
    width_px: int = DEFAULT_WIDTH_PX,
    title: str | None = None,
    words: Mapping[str, str] | None = None,
    routing_words: Mapping[str, str] | None = None,
) -> go.Figure:
    """``figures.routing.expert_heatmap`` with an x on every request that missed (``cache_misses``'s (L, N, k) mask).

    ``words`` / ``routing_words``: the words of this module's ``LABELS`` / of ``figures.routing.LABELS``.
    """
    words = with_words(LABELS, words)
    arrays = trace_arrays(trace)
    mask = np.asarray(misses.numpy() if hasattr(misses, "numpy") else misses, dtype=bool)
    if mask.shape != arrays.ids.shape:
        raise ValueError(
            f"misses has shape {mask.shape}, the trace's routing {arrays.ids.shape}: use cache_misses(trace)"
        )
    pos = layer_position(arrays, layer)
    start, stop = window if window is not None else (0, arrays.num_tokens)
    fig = expert_heatmap(
        arrays,
        arrays.layer_indices[pos],
        window=(start, stop),
        width_px=width_px,
        title=title,
        words=dict(routing_words or {}),
    )
    rows, ranks = np.nonzero(mask[pos, start:stop])  # (M,), (M,)
    fig.add_trace(
        go.Scatter(
            x=rows + start,
            y=arrays.ids[pos, start:stop][rows, ranks],
            mode="markers",
            marker=dict(symbol="x-thin", size=7, line=dict(width=1.5, color="#d62728")),
            name=words["miss"].format(count=rows.size),
            hoverinfo="skip",
        )
    )
    if not fig.layout.showlegend:  # the heatmap has its own legend row when it marks zero-computation picks
        fig.update_layout(showlegend=True, legend=dict(orientation="h", y=1.12, x=1, xanchor="right"))
    return fig


def speed_html(
    cost: Any, *, hit_rate_note: str = "", words: Mapping[str, str] | None = None, machine: str | None = None
) -> str:
    """One paragraph: predicted tokens/s, slots, hit rate, and the step time split by tier (escaped HTML).

    ``words``: the words of ``LABELS`` (``speed``, ``note`` and the ``tier_*`` names), e.g. a view's language;
    ``machine``: the machine's name as the view shows it (default ``cost.machine``)."""
    words = with_words(LABELS, words)
    total = cost.time_gpu + cost.time_transfer + cost.time_disk + cost.time_overhead
    link = "host link" if cost.mode == "fetch" else "CPU RAM reads"
    parts = [("GPU memory", cost.time_gpu), (link, cost.time_transfer), ("NVMe", cost.time_disk)]
    if cost.time_overhead:
        parts.append(("per-layer overhead", cost.time_overhead))

    def tier(name: str) -> str:
        return escape_text(words.get(f"tier_{name}", name))

    split = words["tier_sep"].join(f"{tier(name)} {t * 1e3:.2f} ms" for name, t in parts if t > 0)
    note = words["note"].format(note=escape_text(hit_rate_note)) if hit_rate_note else ""
    return words["speed"].format(
        rate=f"{cost.tokens_per_s:.1f}",
        batch=cost.batch,
        machine=escape_text(machine or cost.machine),
        format=escape_text(cost.format),
        slots=cost.slots,
        max_slots=cost.max_slots,
        hit_rate=f"{cost.hit_rate:.1%}",
        note=note,
        loads=f"{cost.misses_per_token:.0f}",
        size=f"{cost.expert_bytes / 2**20:.2f}",
        step=f"{total * 1e3:.2f}",
        split=split,
        bound=tier(cost.bound),
    )


def no_fit_html(reason: str, *, words: Mapping[str, str] | None = None) -> str:
    """In place of ``speed_html`` when the config's non-expert part does not fit the machine (``reason``: why;
    ``words``: the words of ``LABELS``)."""
    return f"<b>{escape_text(with_words(LABELS, words)['does_not_fit'])}</b> {escape_text(reason)}"
