"""Figures for checking the Qwen3-Next article's numbers (``analysis.article_check``): table in, figure out.

``throughput_ratio_figure`` draws the decode-throughput ratio (Qwen3-Next over the reference model) against the
batch size, one line per context length, with the article's ">10x" as a dashed line and the chosen batch marked;
the title says, from the data, at which contexts the claim holds for that batch. Pure; knows nothing about
models or widgets.

    fig = throughput_ratio_figure(decode_throughput_table(next_cfg, qwen3_32b_config()), batch=8)
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from .frames import need_frame
from .theme import template, themed
from .words import with_words

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
_NEED = ("context", "batch", "ratio")

# The words on the figure (English); a caller passes its language's as ``words=`` (missing keys stay English), e.g.
# ``ql.figure_words(throughput_ratio_figure)`` in the session's language.
LABELS: dict[str, str] = {
    "context_line": "context {label}",
    "ratio_hover": "context {label}<br>batch {x}<br>{y}x {reference}",
    "article_claim": "article: >{claim}x",
    "throughput_title": "Decode throughput, Qwen3-Next-80B-A3B / {reference}",
    "batch_title": "Batch {batch}: {verdict}",
    "holds_at": ">{claim}x holds at {contexts}",
    "holds_nowhere": ">{claim}x holds at no context shown",
    "not_at": "; not at {contexts}",
    "context_sep": ", ",
    "batch_axis": "sequences decoded together (batch, log scale)",
    "ratio_axis": "throughput / {reference}'s (log)",
}


def _context_label(context: int) -> str:
    return f"{context // 1024}K" if context % 1024 == 0 else str(context)


@themed
def throughput_ratio_figure(
    table: pd.DataFrame,
    *,
    batch: int | None = None,
    claim: float = 10.0,
    reference: str = "Qwen3-32B",
    dark: bool = False,
    words: dict[str, str] | None = None,
) -> go.Figure:
    """Throughput ratio vs batch (log-log), one line per context; ``batch`` marks one batch size.

    ``words``: the words on the figure (keys of ``LABELS``), e.g. ``ql.figure_words(throughput_ratio_figure)``.
    """
    words = with_words(LABELS, words)
    need_frame(table, _NEED, "decode_throughput_table")
    if batch is not None and batch not in set(table["batch"].tolist()):
        raise ValueError(f"batch {batch} is not in the table (batches: {sorted(set(table['batch'].tolist()))})")
    fig = go.Figure()
    holds = []
    for i, (context, df) in enumerate(table.sort_values("batch").groupby("context", sort=True)):
        color = _COLORS[i % len(_COLORS)]
        label = _context_label(int(context))
        fig.add_scatter(
            x=df["batch"].tolist(),
            y=df["ratio"].tolist(),
            mode="lines+markers",
            name=words["context_line"].format(label=label),
            line=dict(color=color),
            hovertemplate=words["ratio_hover"].format(label=label, x="%{x}", y="%{y:.2f}", reference=reference)
            + "<extra></extra>",
        )
        if batch is not None:
            at = float(df.loc[df["batch"] == batch, "ratio"].iloc[0])
            holds.append((label, at))
            fig.add_scatter(
                x=[batch],
                y=[at],
                mode="markers+text",
                marker=dict(color=color, size=13, symbol="circle-open", line=dict(width=3)),
                text=[f"{at:.1f}x"],
                textposition="middle right",
                showlegend=False,
                hoverinfo="skip",
            )
    fig.add_hline(y=claim, line_dash="dash", line_color="#7f7f7f")
    fig.add_annotation(
        x=1,
        xref="paper",
        y=claim,
        yref="y",
        text=words["article_claim"].format(claim=f"{claim:g}"),
        showarrow=False,
        yanchor="bottom",
        xanchor="right",
        font=dict(color="#7f7f7f"),
    )
    if batch is None:
        title = words["throughput_title"].format(reference=reference)
    else:
        yes = words["context_sep"].join(label for label, r in holds if r > claim)
        no = words["context_sep"].join(label for label, r in holds if r <= claim)
        verdict = (
            words["holds_at"].format(claim=f"{claim:g}", contexts=yes)
            if yes
            else words["holds_nowhere"].format(claim=f"{claim:g}")
        ) + (words["not_at"].format(contexts=no) if yes and no else "")
        title = words["batch_title"].format(batch=batch, verdict=verdict)
    fig.update_layout(
        title=dict(text=title, y=0.97, yanchor="top"),
        xaxis=dict(type="log", title=words["batch_axis"]),
        yaxis=dict(type="log", title=words["ratio_axis"].format(reference=reference)),
        legend=dict(orientation="h", y=-0.25),
        height=400,
        margin=dict(l=60, r=20, t=70, b=90),
        template=template(dark=dark),
    )
    return fig
