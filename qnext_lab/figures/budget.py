"""Accuracy vs thinking budget: the curve of the Qwen3 report's Fig. 2, from a ``sweep_budget`` table.

Log-x like the report. A log axis has no 0 and no infinity, so budget 0 sits half a step left of the
smallest positive budget and "no limit" one doubling right of the largest; their ticks read "0" and "∞".
The non-thinking accuracy is a dashed reference line; an optional vertical marker shows the current
budget (a trace, not a shape, so it sits in data coordinates on the log axis; ``mark_budget`` moves it
in place, also on a FigureWidget). Pure: data in, figure out; knows nothing about models or widgets.

    fig = budget_curve(sweep_budget(model, tok, problems, [0, 4, 16, 64, None], score), current_budget=16)
    mark_budget(fig, 32)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from ..checks import as_int
from .frames import need_frame
from .theme import template, themed
from .words import with_words

_REQUIRED = ("budget", "mode", "accuracy")
_CURVE_COLOR = "#1f5fa8"
_REFERENCE_COLOR = "#7f7f7f"
_MARKER_COLOR = "#c05800"
MARKER_NAME = "current budget"


def _check(df: Any) -> pd.DataFrame:
    need_frame(df, _REQUIRED, "sweep_budget")
    if not (df["mode"] == "thinking").any():
        raise ValueError("the sweep table has no thinking rows to plot")
    return df


def _finite(budgets: Sequence[Any]) -> list[int]:
    return sorted(int(b) for b in budgets if not pd.isna(b))


def axis_positions(budgets: Sequence[Any]) -> tuple[float, float]:
    """Where budget 0 and "no limit" (None / <NA>) are drawn on the log axis, for these budgets."""
    finite = _finite(budgets)
    positive = [b for b in finite if b > 0]
    zero_x = positive[0] / 2 if positive else 0.5
    unlimited_x = 2 * positive[-1] if positive else 1.0
    return float(zero_x), float(unlimited_x)


def budget_x(budget: Any, zero_x: float, unlimited_x: float) -> float:
    """The x position of one budget."""
    if budget is None or pd.isna(budget):
        return unlimited_x
    return zero_x if int(budget) == 0 else float(budget)


def _label(budget: Any) -> str:
    return "∞" if budget is None or pd.isna(budget) else str(int(budget))


# The words on the figure (English); a view passes its language's as ``words=`` (missing keys stay English).
LABELS = {
    "thinking_line": "thinking",
    "non_thinking_line": "non-thinking",
    "budget_axis": "thinking budget (tokens, log scale)",
    "accuracy": "accuracy",
    "budget": "budget",
    "mean_tokens": "mean thinking tokens",
    "marker": MARKER_NAME,
}


@themed
def budget_curve(
    df: pd.DataFrame,
    *,
    current_budget: int | None = None,
    title: str = "Accuracy vs thinking budget",
    words: dict[str, str] | None = None,
) -> go.Figure:
    """The accuracy-vs-budget figure from ``df`` (columns budget, mode, accuracy[, mean_thinking_tokens]).

    ``words``: the words on the figure (keys of ``LABELS``), e.g. a view's language; missing keys stay English.
    """
    df = _check(df)
    words = with_words(LABELS, words)
    thinking = df[df["mode"] == "thinking"].copy()
    zero_x, unlimited_x = axis_positions(thinking["budget"].tolist())
    thinking["x"] = [budget_x(b, zero_x, unlimited_x) for b in thinking["budget"]]
    thinking = thinking.sort_values("x")
    tokens = thinking.get("mean_thinking_tokens", pd.Series([float("nan")] * len(thinking), index=thinking.index))
    hover = [
        f"{words['budget']} {_label(b)}<br>{words['accuracy']} {a:.1%}<br>{words['mean_tokens']} {t:.1f}"
        for b, a, t in zip(thinking["budget"], thinking["accuracy"], tokens)
    ]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=thinking["x"].tolist(),
            y=thinking["accuracy"].tolist(),
            mode="lines+markers",
            name=words["thinking_line"],
            line=dict(color=_CURVE_COLOR, width=2),
            marker=dict(size=8),
            hovertext=hover,
            hoverinfo="text",
        )
    )
    x_lo, x_hi = float(thinking["x"].min()), float(thinking["x"].max())
    reference = df[df["mode"] == "non-thinking"]
    if len(reference):
        acc = float(reference["accuracy"].iloc[0])
        fig.add_trace(
            go.Scatter(
                x=[x_lo, x_hi],
                y=[acc, acc],
                mode="lines",
                name=f"{words['non_thinking_line']} ({acc:.0%})",
                line=dict(color=_REFERENCE_COLOR, width=2, dash="dash"),
                hoverinfo="name",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[],
            y=[],
            mode="lines",
            name=words["marker"],
            meta=MARKER_NAME,  # how mark_budget finds it, whatever its shown name
            line=dict(color=_MARKER_COLOR, width=2, dash="dot"),
            hoverinfo="name",
            showlegend=False,
        )
    )
    ticks = sorted(set(zip(thinking["x"], map(_label, thinking["budget"]))))
    fig.update_layout(
        title=dict(text=title, x=0, xanchor="left", yref="container", y=1, yanchor="top", pad=dict(t=8, l=8)),
        xaxis=dict(
            type="log",
            title=words["budget_axis"],
            tickvals=[t[0] for t in ticks],
            ticktext=[t[1] for t in ticks],
        ),
        yaxis=dict(title=words["accuracy"], tickformat=".0%", range=[-0.02, 1.05]),
        meta={"zero_x": zero_x, "unlimited_x": unlimited_x, "budget_word": words["budget"]},
        # the legend above the plot, under the title: never on the x axis title, never under the toolbar
        legend=dict(orientation="h", yref="paper", y=1.02, yanchor="bottom", x=0, xanchor="left"),
        margin=dict(l=60, r=20, t=80, b=50),
        template=template(),
    )
    if current_budget is not None:
        mark_budget(fig, current_budget)
    return fig


def mark_budget(fig: go.Figure, budget: int | None) -> None:
    """Move the current-budget marker of a ``budget_curve`` figure (in place; None hides it)."""
    markers = [t for t in fig.data if MARKER_NAME in (t.meta, t.name)]
    if not markers:
        raise ValueError("this figure was not made by budget_curve (it has no current-budget marker)")
    if budget is not None:
        budget = as_int(budget, "budget", low=0, hint=" (or None)")
    meta = fig.layout.meta or {}
    if budget is None:
        markers[0].update(x=[], y=[], showlegend=False)
        return
    x = budget_x(budget, meta.get("zero_x", 0.5), meta.get("unlimited_x", 1.0))
    markers[0].update(x=[x, x], y=[0, 1], showlegend=True, hovertext=f"{meta.get('budget_word', 'budget')} {budget}")
