"""figures.budget: the accuracy-vs-budget curve (log-x, 0 and no-limit ticks, non-thinking reference,
current-budget marker) built from a sweep table."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import pytest

from qnext_lab.figures.budget import MARKER_NAME, budget_curve, mark_budget


def _table():
    df = pd.DataFrame(
        {
            "budget": [0, 4, 16, 64, None, None],
            "mode": ["thinking"] * 5 + ["non-thinking"],
            "accuracy": [0.1, 0.3, 0.6, 0.8, 0.85, 0.2],
            "mean_thinking_tokens": [0, 4, 15, 40, 42, 0],
        }
    )
    df["budget"] = df["budget"].astype("Int64")
    return df


def test_curve_is_log_x_with_zero_and_unlimited_ticks():
    fig = budget_curve(_table())
    assert isinstance(fig, go.Figure) and fig.layout.xaxis.type == "log"
    curve = fig.data[0]
    assert list(curve.x) == [2.0, 4.0, 16.0, 64.0, 128.0] and list(curve.y) == [0.1, 0.3, 0.6, 0.8, 0.85]
    assert list(fig.layout.xaxis.ticktext) == ["0", "4", "16", "64", "∞"]


def test_non_thinking_reference_line_spans_the_curve():
    ref = budget_curve(_table()).data[1]
    assert ref.line.dash == "dash" and list(ref.y) == [0.2, 0.2] and list(ref.x) == [2.0, 128.0]


def test_current_budget_marker_and_moving_it():
    fig = budget_curve(_table(), current_budget=16)
    marker = next(t for t in fig.data if t.name == MARKER_NAME)
    assert list(marker.x) == [16.0, 16.0]
    mark_budget(fig, 0)
    assert list(marker.x) == [2.0, 2.0]
    mark_budget(fig, None)
    assert list(marker.x) == []
    with pytest.raises(ValueError):
        mark_budget(fig, -1)


def test_hover_text_is_numbers_only():
    assert all("<script" not in h for h in budget_curve(_table()).data[0].hovertext)


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        ([1, 2], TypeError),
        (pd.DataFrame({"budget": [1]}), ValueError),
        (pd.DataFrame({"budget": [None], "mode": ["non-thinking"], "accuracy": [0.5]}), ValueError),
    ],
)
def test_bad_tables(bad, error):
    with pytest.raises(error):
        budget_curve(bad)


def test_marker_needs_a_budget_curve():
    with pytest.raises(ValueError, match="budget_curve"):
        mark_budget(go.Figure(), 3)
