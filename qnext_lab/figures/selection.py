"""Sparse-attention selection views: which past tokens each query attended to, beside its experts.

Pure functions, ``SelectionTrace`` (and optionally a ``RoutingTrace`` of the same run) in, plotly figure out.
``selection_heatmap`` draws one sequence of one indexed-attention layer as query tokens x key tokens (a cell
is filled where the indexer kept that key for that query; the rest of the causal triangle stays pale, so the
budget's holes show). ``selection_beside_experts`` puts that matrix and the same queries' expert routing side
by side, rows aligned by query. Token text is untrusted: every label and hover is escaped. Knows the two trace
types' fields and nothing about models or widgets.

Dimension legend: n = queries of the sequence in the window, E = experts, k = top-k.

    fig = selection_heatmap(sel, layer=3, seq=0)
    fig = selection_beside_experts(sel, trace, layer=3, seq=0, window=(0, 128))
"""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..checks import as_int
from .escape import escape_text, token_label
from .theme import themed

__all__ = ["selection_beside_experts", "selection_heatmap"]

DEFAULT_MAX_TOKENS = 256  # queries drawn at once: n x n cells stay light in a live figure
_SELECTED = "#C0392B"  # a kept key
_CAUSAL = "rgba(128,128,128,0.22)"  # visible to the query but left out (translucent: reads on light and dark)
_SCALE = [[0.0, _CAUSAL], [0.5, _CAUSAL], [0.5, _SELECTED], [1.0, _SELECTED]]


def _window(n: int, window: tuple[int, int] | None) -> tuple[int, int]:
    if window is None:
        return 0, min(n, DEFAULT_MAX_TOKENS)
    if not isinstance(window, (tuple, list)) or len(window) != 2:
        raise TypeError(f"window must be (start, stop) over the sequence's queries, got {window!r}")
    start = as_int(window[0], "window start", low=0, high=max(n - 1, 0))
    stop = as_int(window[1], "window stop", low=start + 1, high=n)
    return start, stop


def _labels(tokens: list[str] | None, token_ids: np.ndarray, rows: np.ndarray) -> list[str]:
    if tokens is None:
        return [f"#{int(token_ids[r])}" for r in rows]
    return [token_label(tokens[r]) for r in rows]


def _selection_matrix(selection: Any, layer: int | None, seq: int) -> tuple[int, np.ndarray, np.ndarray]:
    """(decoder layer, query rows of ``seq`` by position (n,), matrix (n, n) float: 1 kept, 0 visible, NaN
    future or beyond the trace)."""
    if layer is None:
        if not selection.layer_indices:
            raise ValueError("the selection trace has no layers")
        layer = selection.layer_indices[0]
    rows = selection.rows(seq).numpy()
    kept = selection.matrix(layer, seq).numpy()  # (n, P) bool
    positions = selection.position.numpy()[rows]
    if not np.array_equal(positions, np.arange(len(rows))):
        raise ValueError(
            f"sequence {seq} is not complete in this selection trace (its queries are positions "
            f"{positions[:8].tolist()}...); capture the whole sequence to draw it"
        )
    n = len(rows)
    z = np.where(np.tril(np.ones((n, n), dtype=bool)), 0.0, np.nan)  # causal triangle
    z[kept[:, :n]] = 1.0
    return int(layer), rows, z


def _hover(labels: list[str], z: np.ndarray, start: int, stop: int) -> np.ndarray:
    out = np.full(z.shape, "", dtype=object)
    for i in range(start, stop):
        for j in range(i + 1):
            what = "kept" if z[i, j] == 1.0 else "left out"
            out[i - start, j] = f"query {labels[i]} (pos {i})<br>key {labels[j]} (pos {j})<br>{what}"
    return out


def _selection_trace(selection: Any, layer: int | None, seq: int, window: tuple[int, int] | None):
    layer, rows, z = _selection_matrix(selection, layer, seq)
    start, stop = _window(len(rows), window)
    labels = _labels(selection.tokens, selection.token_ids.numpy(), rows)
    zz = z[start:stop, :stop]  # queries in the window; every key they could see
    heat = go.Heatmap(
        z=zz,
        x=np.arange(stop),
        y=np.arange(start, stop),
        text=_hover(labels, z, start, stop)[:, :stop].astype(str),
        hovertemplate="%{text}<extra></extra>",
        hoverongaps=False,
        colorscale=_SCALE,
        zmin=0.0,
        zmax=1.0,
        showscale=False,
        name="selected keys",
    )
    kept = np.nansum(zz, axis=1)
    return layer, rows, labels, start, stop, heat, kept


def _axis(labels: list[str], lo: int, hi: int, title: str) -> dict:
    step = max(1, (hi - lo) // 48)  # at most ~48 labelled ticks; hover names every token
    ticks = list(range(lo, hi, step))
    return dict(
        title=dict(text=title),
        tickmode="array",
        tickvals=ticks,
        ticktext=[labels[t] for t in ticks],
        tickfont=dict(size=9),
        automargin=True,
    )


@themed
def selection_heatmap(
    selection: Any,
    layer: int | None = None,
    seq: int = 0,
    *,
    window: tuple[int, int] | None = None,
    title: str | None = None,
) -> go.Figure:
    """Query tokens (rows) x key tokens (columns) of one sequence and indexed-attention layer: red where the
    indexer kept the key, pale grey where the query could have seen it but the indexer left it out.

    ``layer``: decoder-layer index (default: the first captured); ``window``: (start, stop) over the
    sequence's queries (default: the first 256)."""
    layer, _, labels, start, stop, heat, kept = _selection_trace(selection, layer, seq, window)
    fig = go.Figure(data=[heat])
    fig.update_layout(
        title=dict(
            text=escape_text(title)
            if title
            else f"Selected keys — layer {layer}, sequence {seq} (mean {kept.mean():.1f} kept per query)"
        ),
        xaxis=_axis(labels, 0, stop, "key token (attended to)"),
        yaxis=dict(_axis(labels, start, stop, "query token"), autorange="reversed"),
        height=max(360, min(900, 10 * (stop - start) + 200)),
        margin=dict(t=60, l=60, r=20, b=60),
    )
    return fig


@themed
def selection_beside_experts(
    selection: Any,
    trace: Any,
    layer: int | None = None,
    seq: int = 0,
    *,
    window: tuple[int, int] | None = None,
    title: str | None = None,
) -> go.Figure:
    """The selection heatmap (left) and the same queries' expert routing (right: query x expert, colour =
    routing weight), rows aligned by query. ``trace``: a RoutingTrace of the same forwards that holds the same
    decoder ``layer`` (the routing of that layer's MoE block) and the same tokens of sequence ``seq``."""
    layer, rows, labels, start, stop, heat, _ = _selection_trace(selection, layer, seq, window)
    if layer not in trace.layer_indices:
        raise ValueError(
            f"the routing trace has no decoder layer {layer} (it holds {trace.layer_indices}); capture both "
            "traces over the same forwards"
        )
    t_rows = (trace.seq_index == seq).nonzero().flatten()
    t_rows = t_rows[trace.position[t_rows].argsort(stable=True)].numpy()
    if len(t_rows) < stop or not np.array_equal(
        trace.token_ids.numpy()[t_rows[:stop]], selection.token_ids.numpy()[rows[:stop]]
    ):
        raise ValueError(
            f"sequence {seq} of the routing trace is not the sequence of the selection trace (other tokens or "
            "fewer of them); capture both over the same forwards"
        )
    pos = trace.layer_indices.index(layer)
    E = int(trace.num_experts)
    ids = trace.topk_ids[pos].numpy()[t_rows[start:stop]]  # (n, k)
    weights = trace.topk_weights[pos].numpy()[t_rows[start:stop]]  # (n, k)
    z = np.full((stop - start, E), np.nan)
    np.put_along_axis(z, ids.astype(np.int64), weights, axis=1)
    hover = np.full(z.shape, "", dtype=object)
    for i in range(stop - start):
        for rank, e in enumerate(ids[i]):
            hover[i, e] = f"query {labels[start + i]} (pos {start + i})<br>expert {int(e)} · rank {rank}<br>"
            hover[i, e] += f"weight {weights[i, rank]:.3f}"
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        column_widths=[0.7, 0.3],
        horizontal_spacing=0.03,
        subplot_titles=("keys each query attended to", "experts each query went to"),
    )
    fig.add_trace(heat, row=1, col=1)
    fig.add_trace(
        go.Heatmap(
            z=z,
            x=np.arange(E),
            y=np.arange(start, stop),
            text=hover.astype(str),
            hovertemplate="%{text}<extra></extra>",
            hoverongaps=False,
            coloraxis="coloraxis",  # the weight scale comes with the template: the page's light or dark one
            name="routing weight",
        ),
        row=1,
        col=2,
    )
    fig.update_layout(
        title=dict(
            text=escape_text(title) if title else f"Layer {layer}, sequence {seq}: the two routings of each token"
        ),
        coloraxis=dict(cmin=0.0, cmax=1.0, colorbar=dict(title=dict(text="weight"))),
        height=max(380, min(900, 10 * (stop - start) + 220)),
        margin=dict(t=80, l=60, r=20, b=60),
    )
    fig.update_xaxes(_axis(labels, 0, stop, "key token"), row=1, col=1)
    fig.update_xaxes(title=dict(text="expert"), row=1, col=2)
    fig.update_yaxes(dict(_axis(labels, start, stop, "query token"), autorange="reversed"), row=1, col=1)
    return fig
