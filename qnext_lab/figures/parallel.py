"""Figures for one thinking budget spent two ways (``thinking.parallel.split_budget``): table in, figure out.

- ``split_budget_figure``: accuracy of the voted answer against the total thinking budget, one line per number
  of chains (1 = one long chain), so equal total budgets sit on one vertical line.
- ``flips_figure``: one row per problem, one column per total budget, green where the voted answer is right and
  red where wrong, for one number of chains; the title counts the flips between neighbouring budgets (right to
  wrong as well as wrong to right). Question text is untrusted and escaped.

Pure; knows nothing about models or widgets.

    split_budget_figure(df); flips_figure(df, chains=1)
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from .escape import token_label
from .frames import need_frame
from .theme import template, themed

_NEED = ("problem", "total_budget", "chains", "right", "voted")
_COLORS = ("#1f5fa8", "#d26a00", "#2e9e5b", "#9467bd", "#8c564b")
_RIGHT, _WRONG = "#2e9e5b", "#c62828"


@themed
def split_budget_figure(table: pd.DataFrame, *, dark: bool = False, title: str | None = None) -> go.Figure:
    """Voted accuracy vs total thinking budget, one line per number of chains."""
    table = need_frame(table, _NEED, "split_budget")
    acc = table.groupby(["chains", "total_budget"])["right"].mean().reset_index()
    problems = table["problem"].nunique()
    fig = go.Figure()
    for i, (n, df) in enumerate(acc.groupby("chains", sort=True)):
        name = "one chain" if n == 1 else f"{n} chains + majority vote"
        fig.add_scatter(
            x=df["total_budget"].tolist(),
            y=df["right"].tolist(),
            mode="lines+markers",
            name=name,
            line=dict(color=_COLORS[i % len(_COLORS)]),
            hovertemplate=f"{name}<br>total budget %{{x}}<br>accuracy %{{y:.0%}}<extra></extra>",
        )
    budgets = sorted(set(table["total_budget"].tolist()))
    fig.update_layout(
        title=dict(
            text=title or f"Same total thinking budget, spent two ways ({problems} problems)", font=dict(size=14)
        ),
        xaxis=dict(type="log", title="total thinking tokens per problem (all chains)", tickvals=budgets),
        yaxis=dict(title="accuracy of the voted answer", tickformat=".0%", range=[-0.02, 1.05]),
        legend=dict(orientation="h", y=-0.25),
        height=380,
        margin=dict(l=60, r=20, t=60, b=80),
        template=template(dark=dark),
    )
    return fig


@themed
def flips_figure(table: pd.DataFrame, chains: int = 1, *, dark: bool = False) -> go.Figure:
    """Right/wrong per problem and total budget for ``chains`` chains; the title counts the flips."""
    table = need_frame(table, _NEED, "split_budget")
    available = sorted(set(table["chains"].tolist()))
    if chains not in available:
        raise ValueError(f"chains={chains} is not in the table (chains: {available})")
    df = table[table["chains"] == chains]
    budgets = sorted(set(df["total_budget"].tolist()))
    grid = df.pivot(index="problem", columns="total_budget", values="right").loc[:, budgets]  # (P, T)
    voted = df.pivot(index="problem", columns="total_budget", values="voted").loc[:, budgets]
    first = df.drop_duplicates("problem").set_index("problem")
    labels = [
        f"#{p} {first.loc[p, 'family'] or ''}: {token_label(str(first.loc[p, 'question']))}"
        if "question" in first.columns
        else f"#{p}"
        for p in grid.index
    ]
    right_to_wrong = wrong_to_right = 0
    for row in grid.itertuples(index=False):
        for a, b in zip(row, row[1:]):
            right_to_wrong += bool(a) and not bool(b)
            wrong_to_right += (not bool(a)) and bool(b)
    fig = go.Figure(
        go.Heatmap(
            z=grid.astype(float).to_numpy(),
            x=[str(b) for b in budgets],
            y=labels,
            zmin=0,
            zmax=1,
            colorscale=[[0, _WRONG], [0.5, _WRONG], [0.5, _RIGHT], [1, _RIGHT]],
            showscale=False,
            xgap=2,
            ygap=2,
            customdata=voted.map(lambda a: token_label(str(a))).to_numpy(),
            hovertemplate="%{y}<br>total budget %{x}<br>voted answer %{customdata}<extra></extra>",
        )
    )
    how = "one chain" if chains == 1 else f"{chains} chains + vote"
    fig.update_layout(
        title=dict(
            text=f"{how}: {wrong_to_right} wrong -> right, {right_to_wrong} right -> wrong as the budget grows "
            "(green right, red wrong)",
            font=dict(size=13),
        ),
        xaxis=dict(title="total thinking budget", type="category"),
        yaxis=dict(autorange="reversed", automargin=True, tickfont=dict(size=10)),
        height=120 + 18 * len(labels),
        margin=dict(l=10, r=20, t=50, b=50),
        template=template(dark=dark),
    )
    return fig
