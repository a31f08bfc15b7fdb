"""Figures for the "is there a math expert?" test (``analysis.specialisation_test``): tables in, figures out.

- ``specialisation_figure(frame, layer=L)``: one panel per label; for each expert the permutation band (grey)
  and the observed share (a dot, coloured by verdict), with the uniform k/E as a dashed line. With
  ``layer=None``: per layer, how many (label, expert) cells fall outside the band (depth at a glance).
- ``overlap_figure(frame)``: per layer, same-label minus different-label routing overlap with the baseline's
  interval as a band.

Every title says, from the table, whether anything lies outside the baseline; nothing is named that the test did
not flag. Pure; knows nothing about models or widgets.

    specialisation_figure(expert_specialisation(trace, families), layer=3)
    overlap_figure(routing_overlap(trace, families))
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .frames import need_frame
from .theme import template, themed

_COLORS = {"prefers": "#d62728", "avoids": "#1f77b4", "inside baseline": "#7f7f7f"}
_BAND = "rgba(127,127,127,0.35)"
_SPEC = ("layer", "label", "expert", "share", "low", "high", "baseline", "verdict")
_OVERLAP = ("layer", "same", "different", "difference", "null_low", "null_high", "verdict")


def _band_text(frame: pd.DataFrame) -> str:
    level, shuffles = frame.attrs.get("level"), frame.attrs.get("permutations")
    if level is None or shuffles is None:
        return "permutation band"
    return f"{level:.0%} family-wise band, {shuffles} shuffles of the labels"


@themed
def specialisation_figure(frame: pd.DataFrame, layer: int | None = None, *, dark: bool = False) -> go.Figure:
    """Observed share per expert against the permutation band, one panel per label (or a per-layer summary)."""
    frame = need_frame(frame, _SPEC, "expert_specialisation")
    if layer is None:
        return _depth_figure(frame, dark)
    layers = sorted(set(frame["layer"].tolist()))
    if layer not in layers:
        raise ValueError(f"layer {layer} is not in the table (layers: {layers})")
    df = frame[frame["layer"] == layer]
    labels = sorted(set(df["label"].tolist()))
    fig = make_subplots(rows=len(labels), cols=1, shared_xaxes=True, vertical_spacing=0.06, subplot_titles=labels)
    for row, label in enumerate(labels, start=1):
        d = df[df["label"] == label].sort_values("expert")
        fig.add_bar(
            x=d["expert"].tolist(),
            y=(d["high"] - d["low"]).tolist(),
            base=d["low"].tolist(),
            marker_color=_BAND,
            name="permutation band",
            showlegend=row == 1,
            hovertemplate="expert %{x}<br>band %{base:.3f} to %{y:.3f} wide<extra></extra>",
            row=row,
            col=1,
        )
        fig.add_scatter(
            x=d["expert"].tolist(),
            y=d["share"].tolist(),
            mode="markers",
            marker=dict(color=[_COLORS[v] for v in d["verdict"]], size=8, line=dict(width=0)),
            name="observed share",
            showlegend=row == 1,
            customdata=d[["verdict"]].to_numpy(),
            hovertemplate=f"{label} · expert %{{x}}<br>share %{{y:.3f}}<br>%{{customdata[0]}}<extra></extra>",
            row=row,
            col=1,
        )
        fig.add_hline(y=float(d["baseline"].iloc[0]), line_dash="dash", line_color="#7f7f7f", row=row, col=1)
    outside = df[df["verdict"] != "inside baseline"]
    if outside.empty:
        title = f"Layer {layer}: every expert inside the permutation baseline; no expert earns a label"
    elif len(outside) <= 3:
        named = ", ".join(f"E{r.expert} {r.verdict} {r.label}" for r in outside.itertuples())
        title = f"Layer {layer}: outside the baseline: {named}"
    else:
        title = f"Layer {layer}: {len(outside)} of {len(df)} cells outside the baseline (red: prefers, blue: avoids)"
    fig.update_xaxes(title_text="expert", row=len(labels), col=1)
    fig.update_yaxes(title_text="share", rangemode="tozero")
    fig.update_layout(
        title=dict(text=title, y=0.99, yanchor="top", font=dict(size=14)),
        barmode="overlay",
        height=150 + 140 * len(labels),
        margin=dict(l=60, r=20, t=80, b=50),
        legend=dict(orientation="h", y=1.0, yanchor="bottom", x=1, xanchor="right"),
        annotations=list(fig.layout.annotations)
        + [
            dict(
                text=f"grey: {_band_text(frame)}; dashed: uniform k/E",
                x=0,
                xref="paper",
                y=1.0,
                yref="paper",
                yanchor="bottom",
                yshift=22,
                showarrow=False,
                xanchor="left",
                font=dict(size=11, color="#7f7f7f"),
            )
        ],
        template=template(dark=dark),
    )
    return fig


def _depth_figure(frame: pd.DataFrame, dark: bool) -> go.Figure:
    cells = frame.groupby("layer")["verdict"].value_counts().unstack(fill_value=0)
    layers = [str(i) for i in cells.index]
    fig = go.Figure()
    for verdict in ("prefers", "avoids"):
        counts = cells[verdict].tolist() if verdict in cells.columns else [0] * len(layers)
        fig.add_bar(x=layers, y=counts, name=f"{verdict} (outside the band)", marker_color=_COLORS[verdict])
    total = int((frame["verdict"] != "inside baseline").sum())
    per_layer = len(frame) // max(len(layers), 1)
    title = (
        f"No (label, expert) cell outside the baseline at any depth ({per_layer} cells per layer)"
        if total == 0
        else f"(label, expert) cells outside the baseline, by depth (of {per_layer} per layer)"
    )
    fig.update_layout(
        title=dict(text=title, font=dict(size=14)),
        barmode="stack",
        xaxis=dict(title="decoder layer", type="category"),
        yaxis=dict(title="cells outside the band", rangemode="tozero"),
        height=320,
        margin=dict(l=60, r=20, t=60, b=50),
        legend=dict(orientation="h", y=-0.3),
        template=template(dark=dark),
    )
    return fig


@themed
def overlap_figure(frame: pd.DataFrame, *, dark: bool = False) -> go.Figure:
    """Same-label minus different-label routing overlap per layer, with the shuffled-label interval."""
    frame = need_frame(frame, _OVERLAP, "routing_overlap")
    df = frame.sort_values("layer")
    x = [str(i) for i in df["layer"]]
    fig = go.Figure()
    fig.add_bar(
        x=x,
        y=(df["null_high"] - df["null_low"]).tolist(),
        base=df["null_low"].tolist(),
        marker_color=_BAND,
        name="shuffled labels (baseline)",
        hoverinfo="skip",
    )
    fig.add_scatter(
        x=x,
        y=df["difference"].tolist(),
        mode="markers+lines",
        marker=dict(size=10, color=[_COLORS["prefers" if v != "inside baseline" else v] for v in df["verdict"]]),
        line=dict(color="#7f7f7f", width=1),
        name="same-label minus different-label overlap",
        customdata=df[["same", "different"]].to_numpy(),
        hovertemplate="layer %{x}<br>same %{customdata[0]:.3f} · different %{customdata[1]:.3f}"
        "<br>difference %{y:.3f}<extra></extra>",
    )
    fig.add_hline(y=0, line_color="#7f7f7f", line_width=1)
    above = df[df["verdict"] != "inside baseline"]["layer"].tolist()
    title = (
        "Routing overlap: same- vs different-family questions inside the baseline at every layer"
        if not above
        else f"Same-family questions route more alike than shuffled labels at layers {', '.join(map(str, above))}"
    )
    fig.update_layout(
        title=dict(text=title, font=dict(size=14)),
        barmode="overlay",
        xaxis=dict(title="decoder layer", type="category"),
        yaxis=dict(title="overlap difference"),
        height=340,
        margin=dict(l=60, r=20, t=60, b=50),
        legend=dict(orientation="h", y=-0.3),
        template=template(dark=dark),
    )
    return fig
