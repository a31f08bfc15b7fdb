"""Figures for the routing metrics of ``qnext_lab.analysis``: DataFrame in, plotly figure out.

One builder per metric, each taking exactly the DataFrame its metric returns (``layer`` columns hold
decoder-layer indices). Token text is untrusted and goes through ``escape.token_label``. Knows nothing
about models, traces or widgets.

    from qnext_lab.analysis import load_balance
    from qnext_lab.figures.analysis import balance_figure
    balance_figure(load_balance(trace)).show()
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from ..checks import as_int
from .escape import token_label
from .frames import need_frame
from .theme import themed


def _layer_rows(frame: pd.DataFrame, layer: int | None) -> tuple[int, pd.DataFrame]:
    """Decoder layer ``layer`` (None: the frame's first) and the frame's rows of it; a layer not there is refused."""
    layer = int(frame["layer"].iloc[0]) if layer is None else as_int(layer, "layer (a decoder-layer index)")
    rows = frame[frame["layer"] == layer]
    if rows.empty:
        raise ValueError(f"layer {layer} is not in this frame; layers: {sorted(frame['layer'].unique().tolist())}")
    return layer, rows


def _by_expert(table: pd.DataFrame, rows: list[str], title: str, yaxis: dict, height: int, **heatmap) -> go.Figure:
    """A heatmap of a pivot ``table`` with one column per expert (rows labelled ``rows``)."""
    return go.Figure(
        go.Heatmap(z=table.values, x=table.columns.tolist(), y=rows, **heatmap),
        dict(
            title=dict(text=title),
            xaxis=dict(title=dict(text="expert")),
            yaxis=dict(type="category", **yaxis),
            height=height,
        ),
    )


@themed
def load_figure(frame: pd.DataFrame, title: str | None = None) -> go.Figure:
    """``expert_load``: layers x experts heatmap of each expert's share of the layer's slots."""
    need_frame(frame, ["layer", "expert", "share"], "expert_load")
    table = frame.pivot(index="layer", columns="expert", values="share")  # (L, E)
    uniform = 1 / table.shape[1]
    return _by_expert(
        table,
        [str(i) for i in table.index],
        title or f"Expert load (uniform share = {uniform:.4f})",
        dict(title=dict(text="layer")),
        max(300, min(900, 22 * table.shape[0] + 160)),
        colorscale="Viridis",
        zmin=0,
        colorbar=dict(title=dict(text="share")),
        hovertemplate="layer %{y} · expert %{x}<br>share %{z:.4f}<extra></extra>",
    )


@themed
def balance_figure(frame: pd.DataFrame, title: str | None = None) -> go.Figure:
    """``load_balance``: MaxVio and the effective number of experts exp(H) per layer."""
    need_frame(frame, ["layer", "max_vio", "effective_experts"], "load_balance")
    fig = make_subplots(rows=1, cols=2, subplot_titles=("MaxVio (0 = balanced)", "effective experts exp(H)"))
    layers = [str(i) for i in frame["layer"]]
    fig.add_trace(go.Bar(x=layers, y=frame["max_vio"], name="MaxVio"), row=1, col=1)
    fig.add_trace(go.Bar(x=layers, y=frame["effective_experts"], name="exp(H)"), row=1, col=2)
    if "uniform_entropy" in frame:
        fig.add_hline(
            y=float(np.exp(frame["uniform_entropy"].iloc[0])),
            line_dash="dash",
            row=1,
            col=2,
            annotation_text="all experts",
        )
    fig.update_xaxes(title_text="layer", type="category")
    fig.update_layout(title=dict(text=title or "Load balance per layer"), showlegend=False)
    return fig


@themed
def entropy_figure(frame: pd.DataFrame, title: str | None = None) -> go.Figure:
    """``routing_entropy``: mean ± std router entropy per layer (per-token frames are summarised first)."""
    if "entropy" in frame.columns:  # per-token frame
        need_frame(frame, ["layer", "entropy"], "routing_entropy")
        stats = frame.groupby("layer", sort=False)["entropy"].agg(["mean", "std"]).reset_index()
    else:
        need_frame(frame, ["layer", "mean", "std"], "routing_entropy(per='layer')")
        stats = frame
    return go.Figure(
        go.Scatter(
            x=[str(i) for i in stats["layer"]],
            y=stats["mean"],
            mode="lines+markers",
            error_y=dict(type="data", array=stats["std"].fillna(0)),
            name="entropy",
            hovertemplate="layer %{x}<br>mean entropy %{y:.3f} nats<extra></extra>",
        ),
        dict(
            title=dict(text=title or "Router entropy per layer (nats)"),
            xaxis=dict(title=dict(text="layer"), type="category"),
            yaxis=dict(title=dict(text="entropy (nats)")),
        ),
    )


@themed
def coactivation_figure(
    frame: pd.DataFrame, experts: Sequence[int] | None = None, top: int = 32, title: str | None = None
) -> go.Figure:
    """``coactivation``: heatmap of C[i, j] over ``experts`` (default: the ``top`` most co-chosen experts).

    Pass ``experts=most_used_experts(trace, layer)`` to show the most used experts in use order.
    """
    if not isinstance(frame, pd.DataFrame) or frame.shape[0] != frame.shape[1]:
        raise ValueError("expected the square E x E DataFrame returned by coactivation")
    if experts is None:
        order = np.argsort(-np.nan_to_num(frame.values).sum(axis=0), kind="stable")
        experts = order[:top].tolist()
    experts = [int(e) for e in experts]
    bad = [e for e in experts if not 0 <= e < frame.shape[0]]
    if bad:
        raise ValueError(f"experts {bad} out of range for {frame.shape[0]} experts")
    sub = frame.values[np.ix_(experts, experts)]
    labels = [str(e) for e in experts]
    return go.Figure(
        go.Heatmap(
            z=sub,
            x=labels,
            y=labels,
            colorscale="Magma",
            zmin=0,
            hoverongaps=False,
            colorbar=dict(title=dict(text="C[i, j]")),
            hovertemplate="expert %{y} with %{x}<br>C = %{z:.3f}<extra></extra>",
        ),
        dict(
            title=dict(text=title or "Co-activation C[i, j] = N(i, j) / N(i)"),
            xaxis=dict(title=dict(text="expert j"), type="category"),
            yaxis=dict(title=dict(text="expert i"), type="category", autorange="reversed"),
            height=max(360, min(900, 16 * len(experts) + 160)),
        ),
    )


@themed
def repetition_figure(frame: pd.DataFrame, title: str | None = None) -> go.Figure:
    """``consecutive_repetition``: top-1 and any-of-top-k repetition per layer, with random baselines."""
    need_frame(frame, ["layer", "top1", "any_topk", "random_top1", "random_any_topk"], "consecutive_repetition")
    layers = [str(i) for i in frame["layer"]]
    fig = go.Figure(
        [
            go.Bar(x=layers, y=frame["top1"], name="same first choice"),
            go.Bar(x=layers, y=frame["any_topk"], name="any shared top-k expert"),
        ]
    )
    fig.add_hline(y=float(frame["random_top1"].iloc[0]), line_dash="dot", annotation_text="random, first choice")
    fig.add_hline(y=float(frame["random_any_topk"].iloc[0]), line_dash="dash", annotation_text="random, any top-k")
    fig.update_layout(
        title=dict(text=title or "Consecutive tokens routed to the same expert"),
        barmode="group",
        xaxis=dict(title=dict(text="layer"), type="category"),
        yaxis=dict(title=dict(text="share of consecutive pairs"), range=[0, 1]),
    )
    return fig


@themed
def vocabulary_figure(
    frame: pd.DataFrame, layer: int | None = None, top: int = 30, title: str | None = None
) -> go.Figure:
    """``vocabulary_specialization``: the ``top`` most specialised token ids of one layer (default: the first)."""
    need_frame(frame, ["layer", "token_id", "count", "top_expert", "specialization"], "vocabulary_specialization")
    layer, rows = _layer_rows(frame, layer)
    rows = rows.sort_values(["specialization", "count"], ascending=[False, False]).head(top)
    names = rows["text"] if "text" in rows else rows["token_id"].astype(str)
    labels = [f"{token_label(str(n))} ({tid})" for n, tid in zip(names, rows["token_id"])]
    return go.Figure(
        go.Bar(
            x=rows["specialization"],
            y=labels,
            orientation="h",
            customdata=np.c_[rows["top_expert"], rows["count"]],
            hovertemplate="%{y}<br>specialisation %{x:.3f}<br>favourite expert %{customdata[0]}"
            "<br>seen %{customdata[1]} times<extra></extra>",
        ),
        dict(
            title=dict(text=title or f"Vocabulary specialisation — layer {layer} (0 = uniform k/E, 1 = always)"),
            xaxis=dict(
                title=dict(text="(p - k/E) / (1 - k/E)"), range=[min(0, float(rows["specialization"].min())), 1]
            ),
            yaxis=dict(autorange="reversed", type="category"),
            height=max(320, 18 * len(rows) + 140),
        ),
    )


@themed
def label_figure(frame: pd.DataFrame, layer: int | None = None, title: str | None = None) -> go.Figure:
    """``label_specialization``: labels x experts heatmap of share / (k/E) for one layer (1 = uniform)."""
    need_frame(frame, ["layer", "label", "expert", "ratio"], "label_specialization")
    layer, rows = _layer_rows(frame, layer)
    table = rows.pivot(index="label", columns="expert", values="ratio")  # (C, E)
    return _by_expert(
        table,
        [token_label(str(v), max_chars=40) for v in table.index],
        title or f"Label specialisation — layer {layer}",
        {},
        max(280, 28 * table.shape[0] + 160),
        colorscale="RdBu_r",
        zmid=1.0,
        colorbar=dict(title=dict(text="share / (k/E)")),
        hovertemplate="%{y} · expert %{x}<br>%{z:.2f}× uniform<extra></extra>",
    )


@themed
def saturation_figure(frame: pd.DataFrame, by: str | None = None, title: str | None = None) -> go.Figure:
    """``router_saturation``: saturation per layer; with ``by`` (e.g. a ``step`` column of several
    concatenated frames) one line per value."""
    need_frame(frame, ["layer", "saturation"], "router_saturation")
    groups = [(None, frame)] if by is None else list(frame.groupby(by, sort=True))
    fig = go.Figure(
        [
            go.Scatter(
                x=[str(i) for i in g["layer"]],
                y=g["saturation"],
                mode="lines+markers",
                name="saturation" if key is None else f"{by} {key}",
            )
            for key, g in groups
        ]
    )
    if "random" in frame:
        fig.add_hline(y=float(frame["random"].iloc[0]), line_dash="dash", annotation_text="random (k/E)")
    fig.update_layout(
        title=dict(text=title or "Router saturation: |top-k(a) ∩ top-k(b)| / k"),
        xaxis=dict(title=dict(text="layer"), type="category"),
        yaxis=dict(title=dict(text="saturation"), range=[0, 1.05]),
    )
    return fig


@themed
def drift_figure(frame: pd.DataFrame, by: str | None = None, title: str | None = None) -> go.Figure:
    """``routing_drift``: top-1 flip rate, 1 - top-k overlap and weight change per layer; with ``by`` (e.g. a
    ``format`` column of several concatenated frames) one line per value in each panel."""
    need_frame(frame, ["layer", "top1_flip_rate", "topk_overlap", "weight_change"], "routing_drift")
    panels = (
        ("top1_flip_rate", "top-1 flip rate"),
        ("topk_lost", "1 - top-k overlap (|∩|/k)"),
        ("weight_change", "weight change (TV distance)"),
    )
    data = frame.assign(topk_lost=1 - frame["topk_overlap"])
    groups = [(None, data)] if by is None else list(data.groupby(by, sort=False))
    fig = make_subplots(rows=1, cols=3, subplot_titles=[t for _, t in panels], shared_yaxes=True)
    for g, (key, part) in enumerate(groups):
        name = "drift" if key is None else f"{key}"
        for col, (column, label) in enumerate(panels, start=1):
            fig.add_trace(
                go.Scatter(
                    x=[str(i) for i in part["layer"]],
                    y=part[column],
                    mode="lines+markers",
                    name=token_label(name),
                    legendgroup=str(g),
                    showlegend=col == 1,
                    marker=dict(color=qualitative.Plotly[g % len(qualitative.Plotly)]),
                    hovertemplate=f"{token_label(name)} · layer %{{x}}<br>{label} %{{y:.3f}}<extra></extra>",
                ),
                row=1,
                col=col,
            )
    fig.update_xaxes(title_text="layer", type="category")
    fig.update_yaxes(range=[0, 1.02], row=1, col=1)
    fig.update_layout(
        title=dict(text=title or "Routing drift per layer (0 = routes as the reference)"),
        height=360,
        legend=dict(title=dict(text=by or "")),
    )
    return fig


@themed
def active_params_figure(frame: pd.DataFrame, title: str | None = None) -> go.Figure:
    """``active_parameters``: total vs active-per-token parameters of each component (log scale)."""
    need_frame(frame, ["component", "total", "active"], "active_parameters")
    parts = frame[~frame["component"].str.startswith("total")]
    summary = frame[frame["component"] == "total (non-embedding)"]
    subtitle = ""
    if not summary.empty:
        subtitle = (
            f" — non-embedding: {summary['total'].iloc[0] / 1e9:.2f}B total, "
            f"{summary['active'].iloc[0] / 1e9:.2f}B active"
        )
    bars = [
        go.Bar(x=parts["component"], y=parts["total"], name="total"),
        go.Bar(x=parts["component"], y=parts["active"], name="active per token"),
    ]
    if "touched" in parts:
        bars.append(go.Bar(x=parts["component"], y=parts["touched"], name="touched by the trace"))
    return go.Figure(
        bars,
        dict(
            title=dict(text=(title or "Parameters") + subtitle),
            barmode="group",
            yaxis=dict(type="log", title=dict(text="parameters")),
        ),
    )
