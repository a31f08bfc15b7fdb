"""Routing views of a RoutingTrace: which experts each token went to, layer by layer.

Pure functions, trace in and plotly figure (or escaped HTML) out; the ``RoutingHeatmap`` widget wires a
layer slider, a mode toggle and a window to them. Knows the RoutingTrace fields (docs/architecture.md)
and nothing about models or widgets.

Dimension legend: L = captured MoE layers, N = tokens, k = top-k, E = experts, W = tokens in the window.
``layer`` always means the decoder-layer index (a value of ``trace.layer_indices``, as in ``trace.layer(i)``
and ``analysis``); ``None`` is the first captured layer. Expert load is counted by ``analysis.load``.

    fig = expert_heatmap(trace, layer=3, window=(0, 512))   # tokens x experts, colour = routing weight
    html = routing_text_html(trace, layer=3)                # the text coloured by top-1 expert

Long traces (thousands of tokens) are drawn a window at a time: every builder takes ``window=(start, stop)``
over token rows, and :func:`window_bounds` clamps a requested window to the trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go

from ..analysis.load import routed_counts
from ..checks import as_int
from ..trace.phases import PHASES
from .escape import escape_text, token_label
from .palette import expert_color, expert_colors, expert_colorscale, phase_color, text_color_on
from .theme import finish
from .words import with_words

DEFAULT_WINDOW = 512
DEFAULT_WIDTH_PX = 900  # the width figures are laid out for when no pane width is known
# Light to dark blue; starts visibly blue (not white) so a chosen expert with a small weight still shows
# against the white of the experts that were not chosen.


@dataclass(frozen=True)
class TraceArrays:
    """The numpy views of a trace that the builders read (built once per trace, cheap)."""

    ids: np.ndarray  # (L, N, k) int
    weights: np.ndarray  # (L, N, k) float
    labels: list[str]  # (N,) escaped short token labels (tick labels)
    hover_labels: list[str]  # (N,) escaped longer token labels (hover)
    raw_tokens: list[str]  # (N,) unescaped token text (escape before use)
    position: np.ndarray  # (N,) int
    seq: np.ndarray  # (N,) int
    phase: np.ndarray | None  # (N,) int or None
    layer_indices: list[int]  # (L,)
    num_experts: int
    top_k: int
    hash_layers: tuple[int, ...] = ()  # decoder layers routed by a token-id table (an expert may be named twice)
    zero_experts: int = 0  # the last zero_experts ids are zero-computation (identity) experts

    @property
    def first_zero(self) -> int:
        """The first zero-computation expert id (``num_experts`` when there are none)."""
        return self.num_experts - self.zero_experts

    @property
    def num_tokens(self) -> int:
        return int(self.ids.shape[1])

    @property
    def num_layers(self) -> int:
        return int(self.ids.shape[0])


def _numpy(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def trace_arrays(trace: Any) -> TraceArrays:
    """Pull the arrays the figures need out of a RoutingTrace (or return ``trace`` if already arrays)."""
    if isinstance(trace, TraceArrays):
        return trace
    ids = _numpy(trace.topk_ids).astype(np.int64, copy=False)
    if ids.ndim != 3:
        raise ValueError(f"trace.topk_ids must be (L, N, k), got shape {ids.shape}")
    n = ids.shape[1]
    token_ids = _numpy(trace.token_ids)
    raw = list(trace.tokens) if getattr(trace, "tokens", None) is not None else [str(int(t)) for t in token_ids]
    if len(raw) != n:
        raise ValueError(f"trace has {n} token rows but {len(raw)} token strings")
    phase = getattr(trace, "phase", None)
    seq = getattr(trace, "seq_index", None)
    position = getattr(trace, "position", None)
    return TraceArrays(
        ids=ids,
        weights=_numpy(trace.topk_weights).astype(np.float32, copy=False),
        labels=[token_label(t) for t in raw],
        hover_labels=[token_label(t, max_chars=80) for t in raw],
        raw_tokens=raw,
        position=_numpy(position).astype(np.int64) if position is not None else np.arange(n),
        seq=_numpy(seq).astype(np.int64) if seq is not None else np.zeros(n, dtype=np.int64),
        phase=_numpy(phase).astype(np.int64) if phase is not None else None,
        layer_indices=[int(i) for i in trace.layer_indices],
        num_experts=int(trace.num_experts),
        top_k=int(ids.shape[2]),
        hash_layers=tuple(int(i) for i in getattr(trace, "hash_layers", None) or ()),
        zero_experts=int(getattr(trace, "zero_experts", 0) or 0),
    )


def window_bounds(num_tokens: int, start: int = 0, size: int | None = DEFAULT_WINDOW) -> tuple[int, int]:
    """Clamp a window of ``size`` token rows starting at ``start`` to a trace of ``num_tokens`` rows.

    ``size=None`` means the whole trace. The window keeps its size near the end (it slides back).
    """
    if size is not None:
        size = as_int(size, "window size", low=1)
    if size is None or size >= num_tokens:
        return 0, num_tokens
    start = min(max(as_int(start, "window start"), 0), num_tokens - size)
    return start, start + size


def layer_position(arrays: TraceArrays, layer: int | None) -> int:
    """Position in ``layer_indices`` of decoder layer ``layer`` (``None``: the first captured layer)."""
    if layer is None:
        return 0
    layer = as_int(layer, "layer (a decoder-layer index)")
    if layer not in arrays.layer_indices:
        raise ValueError(f"layer {layer} was not captured; pick a decoder layer of this trace: {arrays.layer_indices}")
    return arrays.layer_indices.index(layer)


def _resolve(arrays: TraceArrays, window: tuple[int, int] | None) -> tuple[int, int]:
    if window is None:
        return 0, arrays.num_tokens
    start, stop = as_int(window[0], "window start"), as_int(window[1], "window stop")
    if not 0 <= start < stop <= arrays.num_tokens:
        raise ValueError(f"window {window} is outside the trace's {arrays.num_tokens} tokens")
    return start, stop


def _token_hover(arrays: TraceArrays, rows: np.ndarray) -> list[str]:
    """The per-token part of a hover label: escaped token, position, phase, sequence."""
    multi_seq = arrays.seq.size and int(arrays.seq.max()) > 0
    out = []
    for n in rows.tolist():
        parts = [f"token <b>{arrays.hover_labels[n]}</b>", f"position {int(arrays.position[n])}"]
        if arrays.phase is not None:
            parts.append(f"phase {PHASES[int(arrays.phase[n])]}")
        if multi_seq:
            parts.append(f"sequence {int(arrays.seq[n])}")
        out.append("<br>".join(parts))
    return out


def gaps_to_none(z: np.ndarray) -> list[list[float | None]]:
    """A 2-D float array as nested lists with NaN replaced by None.

    Plotly draws None as a gap; and a live FigureWidget sends 2-D arrays as JSON, where NaN is not allowed
    (the whole message would be dropped and the plot stay blank in JupyterLab).
    """
    out = z.astype(np.float64).tolist()
    for row in out:
        for i, value in enumerate(row):
            if value != value:  # NaN
                row[i] = None
    return out


def phase_runs(phase: np.ndarray | None, start: int = 0) -> list[tuple[int, int, int]]:
    """Contiguous runs ``(phase, first_row, last_row)`` of a phase array (rows offset by ``start``)."""
    if phase is None or phase.size == 0:
        return []
    change = np.flatnonzero(np.diff(phase)) + 1
    starts = np.concatenate([[0], change])
    stops = np.concatenate([change, [phase.size]]) - 1
    return [(int(phase[a]), int(a) + start, int(b) + start) for a, b in zip(starts, stops)]


# The words on the routing figures (English); a view passes its language's as ``words=`` (missing keys stay English).
LABELS: dict[str, str] = {
    "token_axis": "token (rows {first}–{last} of {total}; {shown} labelled)",
    "every_token": "every token",
    "one_in": "1 token in {every}",
    "expert": "expert",
    "layer": "layer",
    "weight": "weight",
    "top1_expert": "top-1 expert",
    "share_slots": "share of routed slots",
    "uniform": "uniform 1/{experts}",
    "heatmap_title": "Routing weights — layer {layer} (top-{k} of {experts})",
    "hash_routed": "hash-routed layer: experts picked by token id (a fixed table), not by a router",
    "hash_tick": "{layer} · hash",
    "zero_pick": "zero-computation expert (identity, no compute)",
    "zero_rows": "zero-computation",
    "zero_note": "experts {first}–{last} are zero-computation: the token passes through unchanged",
    **{f"phase_{name}": name for name in PHASES},
}


def expert_ticks(num_experts: int, most: int = 16) -> dict:
    """An expert axis labelled at most ``most`` times (every 1, 2, 4, 8, ... experts): 64 labels side by side in
    a notebook pane overlap and read as none."""
    step = 1
    while num_experts / step > most:
        step *= 2
    return dict(tickmode="linear", tick0=0, dtick=step, tickfont=dict(size=10))


# Pixels one rotated tick label needs along the axis; the widgets pass the pane's width as ``width_px``.
_TICK_PX = 12
_CHAR_PX = 7  # one character of an annotation at font size 11
_PLOT_MARGIN_PX = 110  # left + right margins and the colour bar / legend


def _px_per_token(width_px: int, tokens: int) -> float:
    return max(1.0, width_px - _PLOT_MARGIN_PX) / max(1, tokens)


def _boundary(row: int, top: float, line: dict, name: str) -> dict:
    """A vertical line before token row ``row``, from the plot's bottom to ``top`` (paper units)."""
    x = row - 0.5
    return dict(type="line", xref="x", yref="paper", x0=x, x1=x, y0=0, y1=top, line=line, name=name)


def _label_above(x: float, y: float, text: str, font: dict, name: str, **anchor: str) -> dict:
    """An annotation above the plot at token coordinate ``x`` and paper height ``y`` (its bottom edge)."""
    return dict(
        x=x, y=y, xref="x", yref="paper", text=text, showarrow=False, yanchor="bottom", font=font, name=name, **anchor
    )


def _fits(text: str, first: int, last: int, px: float) -> bool:
    """Whether ``text`` fits inside the run of rows first..last (CJK characters are about two Latin ones wide)."""
    wide = sum(2 if ord(c) > 0x2E7F else 1 for c in text)
    return (last - first + 1) * px >= _CHAR_PX * (wide + 1)


def _phase_marks(
    arrays: TraceArrays, start: int, stop: int, width_px: int, words: dict[str, str] = LABELS
) -> tuple[list[dict], list[dict]]:
    """Shapes and annotations above the plot: a band per prompt/thinking/answer run, its name where it fits,
    a dashed line where each phase starts and, on traces of several sequences, a solid line and "#n" at each
    sequence start (names that would not fit their run are left out: hover still tells the phase)."""
    shapes: list[dict] = []
    annotations: list[dict] = []
    px = _px_per_token(width_px, stop - start)
    multi_seq = arrays.seq.size > 0 and int(arrays.seq[start:stop].max()) > int(arrays.seq[start:stop].min())
    if multi_seq:
        seq = arrays.seq[start:stop]
        for row in (np.flatnonzero(np.diff(seq)) + 1 + start).tolist():
            shapes.append(_boundary(row, 1.12, dict(color="#7f7f7f", width=2), "sequence-start"))
        for s, a, b in phase_runs(seq, start):
            if _fits(f"#{s}", a, b, px):
                font = dict(size=10, color="#7f7f7f")
                annotations.append(_label_above(a - 0.5, 1.12, f"#{s}", font, "sequence-label", xanchor="left"))
    if arrays.phase is None:
        return shapes, annotations
    for ph, a, b in phase_runs(arrays.phase[start:stop], start):
        color = phase_color(ph)
        shapes.append(
            dict(
                type="rect",
                xref="x",
                yref="paper",
                x0=a - 0.5,
                x1=b + 0.5,
                y0=1.01,
                y1=1.05,
                fillcolor=color,
                line=dict(width=0),
                name=f"phase:{PHASES[ph]}",
            )
        )
        if ph != 0:
            shapes.append(_boundary(a, 1, dict(color=color, width=1.5, dash="dash"), f"phase-start:{PHASES[ph]}"))
        name = words.get(f"phase_{PHASES[ph]}", PHASES[ph])
        if _fits(name, a, b, px):  # only where the word fits inside its run
            annotations.append(
                _label_above((a + b) / 2, 1.055, name, dict(size=11, color=color), f"phase-label:{name}")
            )
    return shapes, annotations


def tick_rows(start: int, stop: int, width_px: int) -> list[int]:
    """The token rows that get a text tick: every row if they fit in ``width_px``, else every n-th."""
    step = max(1, int(np.ceil(_TICK_PX / _px_per_token(width_px, stop - start))))
    return list(range(start, stop, step))


def _token_axis(arrays: TraceArrays, start: int, stop: int, width_px: int, words: dict[str, str] = LABELS) -> dict:
    """The x axis: token text as ticks, thinned to what ``width_px`` can hold (hover shows every token)."""
    rows = tick_rows(start, stop, width_px)
    every = rows[1] - rows[0] if len(rows) > 1 else 1
    shown = words["every_token"] if every == 1 else words["one_in"].format(every=every)
    return dict(
        title=dict(text=words["token_axis"].format(first=start, last=stop - 1, total=arrays.num_tokens, shown=shown)),
        range=[start - 0.5, stop - 0.5],
        tickmode="array",
        tickvals=rows,
        ticktext=[arrays.labels[n] for n in rows],
        tickangle=-90,
        tickfont=dict(size=10),
        automargin=True,
    )


def _figure(trace: go.BaseTraceType | list, layout: dict) -> go.Figure:
    fig = go.Figure(data=trace if isinstance(trace, list) else [trace], layout=layout)
    return finish(fig)  # the theme-neutral template (widgets swap in the page's) and a title clear of the toolbar


def expert_heatmap(
    trace: Any,
    layer: int | None = None,
    *,
    window: tuple[int, int] | None = None,
    title: str | None = None,
    width_px: int = DEFAULT_WIDTH_PX,
    words: dict[str, str] | None = None,
) -> go.Figure:
    """Tokens x experts for one layer; colour = routing weight, blank = expert not chosen.

    Hover shows the token text (escaped), its position and phase, the expert, the weight and the rank
    (0 = the router's first choice). Token text labels the x axis, thinned to what ``width_px`` (the width
    the figure will be drawn at) can hold; a band above the plot marks prompt, thinking and answer.

    Routing that is not a router's choice is shown as such: a hash-routed layer (``trace.hash_layers``,
    DeepSeek-V4's early layers) gets a subtitle saying its experts come from a token-id table, and an expert
    the table names twice for one token is one cell with the summed weight and both ranks in its hover; picks of
    zero-computation experts (``trace.zero_experts``, LongCat-Flash) are grey squares of their own legend entry
    over a shaded band of those expert rows, not weight-coloured cells.
    """
    arrays = trace_arrays(trace)
    pos = layer_position(arrays, layer)
    start, stop = _resolve(arrays, window)
    ids = arrays.ids[pos, start:stop]  # (W, k)
    weights = arrays.weights[pos, start:stop]  # (W, k)
    width, k = ids.shape
    num_experts, first_zero = arrays.num_experts, arrays.first_zero
    hashed = arrays.layer_indices[pos] in arrays.hash_layers
    words = with_words(LABELS, words)

    # Column format (one point per chosen cell; unchosen cells are gaps): W*k points instead of E*W cells, and
    # 1-D numeric arrays travel to a live FigureWidget as binary buffers, not JSON.
    token_part = _token_hover(arrays, np.arange(start, stop))
    heat: dict[str, list] = {"x": [], "y": [], "z": [], "text": []}
    zero: dict[str, list] = {"x": [], "y": [], "text": []}
    for col in range(width):
        ranks: dict[int, list[int]] = {}  # expert -> its ranks (two only where a hash table repeats an expert)
        for rank in range(k):
            ranks.setdefault(int(ids[col, rank]), []).append(rank)
        for e, rs in ranks.items():
            w = float(weights[col, rs].sum())
            where = (
                f"rank {rs[0]}" if len(rs) == 1 else f"ranks {', '.join(map(str, rs))} (named {len(rs)}× by the table)"
            )
            how = " · hash-routed" if hashed else ""
            if e >= first_zero:
                zero["x"].append(start + col)
                zero["y"].append(e)
                zero["text"].append(
                    f"{token_part[col]}<br>expert {e} · {where}{how}<br>zero-computation: the token passes through "
                    f"unchanged<br>weight {w:.3f}"
                )
            else:
                heat["x"].append(start + col)
                heat["y"].append(e)
                heat["z"].append(w)
                heat["text"].append(f"{token_part[col]}<br>expert {e} · {where}{how}<br>weight {w:.3f}")
    cols = np.asarray(heat["x"], dtype=np.int32)  # (P,)
    experts = np.asarray(heat["y"], dtype=np.int32)  # (P,)
    z = np.asarray(heat["z"], dtype=np.float32)  # (P,)
    hover = heat["text"]
    missing = np.setdiff1d(np.arange(num_experts, dtype=np.int32), experts)  # keep a row for every expert
    if missing.size:
        cols = np.concatenate([cols, np.full(missing.size, start, dtype=np.int32)])
        experts = np.concatenate([experts, missing])
        z = np.concatenate([z, np.full(missing.size, np.nan, dtype=np.float32)])
        hover += [""] * missing.size

    shapes, annotations = _phase_marks(arrays, start, stop, width_px, words)
    data: list = [
        go.Heatmap(
            z=z,
            x=cols,
            y=experts,
            text=np.asarray(hover, dtype=str),
            hovertemplate="%{text}<extra></extra>",
            hoverongaps=False,
            coloraxis="coloraxis",  # its colour scale comes with the template: the page's light or dark one
            name="routing weight",
        )
    ]
    layout_extra: dict = {}
    if arrays.zero_experts:
        shapes.append(
            dict(
                type="rect",
                xref="paper",
                yref="y",
                x0=0,
                x1=1,
                y0=first_zero - 0.5,
                y1=num_experts - 0.5,
                fillcolor="rgba(140,140,140,0.15)",
                line=dict(width=0),
                layer="below",
                name="zero-computation-experts",
            )
        )
        size = float(np.clip(0.7 * _px_per_token(width_px, stop - start), 4, 10))
        data.append(
            go.Scatter(
                x=np.asarray(zero["x"], dtype=np.int32),
                y=np.asarray(zero["y"], dtype=np.int32),
                text=np.asarray(zero["text"], dtype=str),
                hovertemplate="%{text}<extra></extra>",
                mode="markers",
                marker=dict(symbol="square", size=size, color="#8c8c8c", line=dict(width=1, color="#4d4d4d")),
                name=f"{words['zero_pick']} ({len(zero['x'])})",
                showlegend=True,
            )
        )
    heading = dict(
        text=title or words["heatmap_title"].format(layer=arrays.layer_indices[pos], k=k, experts=num_experts)
    )
    if hashed:
        heading["subtitle"] = dict(text=words["hash_routed"], font=dict(size=11))
    subtitle_px = 18 if hashed else 0
    legend_px = 24 if arrays.zero_experts else 0  # one legend row under the title (as layer_map's)
    height = max(340, min(900, 14 * num_experts + 200)) + subtitle_px + legend_px
    if legend_px:
        layout_extra = dict(
            showlegend=True,
            legend=dict(
                orientation="h",
                yref="container",
                y=1 - (34 + subtitle_px) / height,
                yanchor="top",
                x=0,
                xanchor="left",
                font=dict(size=11),
                itemclick=False,
                itemdoubleclick=False,
            ),
        )
    return _figure(
        data,
        dict(
            title=heading,
            xaxis=_token_axis(arrays, start, stop, width_px, words),
            yaxis=dict(
                title=dict(text=words["expert"]), range=[num_experts - 0.5, -0.5], autorange=False, type="linear"
            ),
            coloraxis=dict(cmin=0.0, cmax=1.0, colorbar=dict(title=dict(text=words["weight"]))),
            shapes=shapes,
            annotations=annotations,
            height=height,
            margin=dict(t=_top_margin(arrays) + subtitle_px + legend_px, l=60, r=20, b=60),
            **layout_extra,
        ),
    )


def _top_margin(arrays: TraceArrays) -> int:
    """Room above the plot for the title, the phase band with its names and the sequence numbers."""
    return 100 if arrays.seq.size and int(arrays.seq.max()) > int(arrays.seq.min()) else 85


def layer_map(
    trace: Any,
    *,
    window: tuple[int, int] | None = None,
    title: str | None = None,
    width_px: int = DEFAULT_WIDTH_PX,
    words: dict[str, str] | None = None,
) -> go.Figure:
    """Tokens x layers, each cell coloured by the token's top-1 expert in that layer (one colour per expert).

    A legend names the colours of the experts that appear, most frequent first (instead of a colour bar of
    every expert, unreadable at 32 or more).
    """
    arrays = trace_arrays(trace)
    start, stop = _resolve(arrays, window)
    top1 = arrays.ids[:, start:stop, 0]  # (L, W)
    top1_weight = arrays.weights[:, start:stop, 0]  # (L, W)
    num_layers, width = top1.shape
    token_part = _token_hover(arrays, np.arange(start, stop))
    hover = [
        [
            f"{token_part[c]}<br>layer {arrays.layer_indices[layer]}"
            f"{' (hash-routed)' if arrays.layer_indices[layer] in arrays.hash_layers else ''}"
            f"<br>top-1 expert {int(top1[layer, c])}"
            f"{' (zero-computation)' if int(top1[layer, c]) >= arrays.first_zero else ''}"
            f" · weight {top1_weight[layer, c]:.3f}"
            for c in range(width)
        ]
        for layer in range(num_layers)
    ]
    words = with_words(LABELS, words)
    shapes, annotations = _phase_marks(arrays, start, stop, width_px, words)
    counts = np.bincount(top1.reshape(-1), minlength=arrays.num_experts)  # (E,)
    present = [int(e) for e in np.argsort(-counts, kind="stable") if counts[e] > 0]
    colors = expert_colors(arrays.num_experts)
    legend = [
        go.Scatter(
            x=[None],
            y=[None],
            mode="markers",
            name=str(e),
            showlegend=True,
            hoverinfo="skip",
            marker=dict(symbol="square", size=12, color=colors[e]),
        )
        for e in present
    ]
    zero_note = ""  # legend names stay numbers (its rows are budgeted for them): a subtitle says which are zero
    if arrays.zero_experts:
        zero_note = words["zero_note"].format(first=arrays.first_zero, last=arrays.num_experts - 1)
    per_row = max(1, (width_px - 120) // 46)
    legend_rows = -(-len(present) // per_row)
    plot_px = 26 * num_layers + 40
    top = 40 + 22 * legend_rows + _top_margin(arrays) - 40 + (18 if zero_note else 0)  # the subtitle's row
    height = plot_px + top + 90
    return _figure(
        [
            go.Heatmap(
                z=top1,
                x=np.arange(start, stop),
                y=[
                    words["hash_tick"].format(layer=f"L{i}") if i in arrays.hash_layers else f"L{i}"
                    for i in arrays.layer_indices
                ],
                text=np.asarray(hover, dtype=str),
                hovertemplate="%{text}<extra></extra>",
                hoverongaps=True,
                colorscale=expert_colorscale(arrays.num_experts),
                zmin=-0.5,
                zmax=arrays.num_experts - 0.5,
                showscale=False,
                name="top-1 expert",
            ),
            *legend,
        ],
        dict(
            title=dict(
                text=title or "Top-1 expert per token and layer",
                yref="container",
                y=1,
                yanchor="top",
                pad=dict(t=8),
                subtitle=dict(text=zero_note, font=dict(size=11)) if zero_note else None,
            ),
            xaxis=_token_axis(arrays, start, stop, width_px, words),
            yaxis=dict(title=dict(text=words["layer"]), autorange="reversed", type="category"),
            legend=dict(
                orientation="h",
                yref="container",
                y=1 - (34 + (18 if zero_note else 0)) / height,
                yanchor="top",
                x=0,
                xanchor="left",
                title=dict(text=words["top1_expert"]),
                font=dict(size=11),
                itemclick=False,
                itemdoubleclick=False,
                tracegroupgap=0,
            ),
            shapes=shapes,
            annotations=annotations,
            height=height,
            margin=dict(t=top, l=60, r=20, b=60),
        ),
    )


def _window_counts(arrays: TraceArrays, pos: int, start: int, stop: int, phase: int | None = None) -> np.ndarray:
    """Routed slots per expert (E,) of layer position ``pos`` in rows start..stop (only ``phase`` if given)."""
    mask = None if phase is None else arrays.phase[start:stop] == phase  # (W,)
    return routed_counts(arrays.ids[pos : pos + 1, start:stop], arrays.num_experts, mask)[0].numpy()


def expert_load_bars(
    trace: Any,
    layer: int | None = None,
    *,
    window: tuple[int, int] | None = None,
    by_phase: bool = True,
    title: str | None = None,
    words: dict[str, str] | None = None,
) -> go.Figure:
    """Share of one layer's routed slots taken by each expert, with the uniform share 1/E dashed.

    With phases (and ``by_phase``), bars are stacked by phase (prompt, thinking, answer); otherwise each
    bar has its expert's colour.
    """
    arrays = trace_arrays(trace)
    pos = layer_position(arrays, layer)
    start, stop = _resolve(arrays, window)
    num_experts = arrays.num_experts
    total = max(1, (stop - start) * arrays.top_k)
    experts = np.arange(num_experts)
    words = with_words(LABELS, words)
    if by_phase and arrays.phase is not None:  # (phase, name, colour, hover prefix) of each stacked bar
        stacks = [
            (ph, words[f"phase_{PHASES[ph]}"], phase_color(ph), f"{PHASES[ph]}: ")
            for ph in sorted(set(arrays.phase[start:stop].tolist()))
        ]
    else:
        stacks = [(None, "load", list(expert_colors(num_experts)), "")]
    bars = []
    for ph, name, color, what in stacks:
        counts = _window_counts(arrays, pos, start, stop, phase=ph)  # (E,)
        bars.append(
            go.Bar(
                x=experts,
                y=counts / total,
                name=name,
                marker=dict(color=color),
                customdata=counts,
                hovertemplate=f"expert %{{x}}<br>{what}%{{customdata}} slots (%{{y:.1%}})<extra></extra>",
            )
        )
    uniform = 1.0 / num_experts
    zero_band = []
    if arrays.zero_experts:  # the zero-computation experts' bars count picks that cost no compute
        zero_band.append(
            dict(
                type="rect",
                xref="x",
                yref="paper",
                x0=arrays.first_zero - 0.5,
                x1=num_experts - 0.5,
                y0=0,
                y1=1,
                fillcolor="rgba(140,140,140,0.15)",
                line=dict(width=0),
                layer="below",
                name="zero-computation-experts",
                label=dict(text=words["zero_rows"], textposition="top center", font=dict(size=10)),
            )
        )
    return _figure(
        bars,
        dict(
            title=dict(text=title or f"Expert load — layer {arrays.layer_indices[pos]}"),
            barmode="stack",
            xaxis=dict(title=dict(text=words["expert"]), **expert_ticks(num_experts)),
            yaxis=dict(title=dict(text=words["share_slots"]), tickformat=".0%"),
            shapes=[
                dict(
                    type="line",
                    xref="paper",
                    yref="y",
                    x0=0,
                    x1=1,
                    y0=uniform,
                    y1=uniform,
                    line=dict(color="#8a8a8a", dash="dash", width=1),
                    name="uniform",
                ),
                *zero_band,
            ],
            annotations=[
                dict(
                    xref="paper",
                    yref="y",
                    x=1,
                    y=uniform,
                    text=words["uniform"].format(experts=num_experts),
                    showarrow=False,
                    xanchor="right",
                    yanchor="bottom",
                    font=dict(size=10),
                )
            ],
            height=280,
            margin=dict(t=50, l=60, r=20, b=40),
            legend=dict(orientation="h"),
        ),
    )


def routing_text_html(
    trace: Any, layer: int | None = None, *, window: tuple[int, int] | None = None, rank: int = 0
) -> str:
    """The text with each token's background in the colour of its rank-``rank`` expert (Mixtral Fig. 8).

    Returns an HTML fragment; every token is escaped, and each span's ``title`` gives position, expert and
    weight. Phase changes (thinking, answer) are marked inline.
    """
    arrays = trace_arrays(trace)
    pos = layer_position(arrays, layer)
    start, stop = _resolve(arrays, window)
    if not 0 <= rank < arrays.top_k:
        raise ValueError(f"rank must be in 0..{arrays.top_k - 1}, got {rank}")
    ids = arrays.ids[pos, start:stop, rank]  # (W,)
    weights = arrays.weights[pos, start:stop, rank]  # (W,)
    colors = expert_colors(arrays.num_experts)
    parts = [
        '<div class="qnext-routing-text" style="font-family:monospace;line-height:1.9;white-space:normal;'
        'word-break:break-all">'
    ]
    previous_phase = None
    for col, n in enumerate(range(start, stop)):
        if arrays.phase is not None:
            ph = int(arrays.phase[n])
            if ph != previous_phase and ph != 0:
                parts.append(
                    f'<span class="qnext-phase" style="font-weight:bold;color:{phase_color(ph)};'
                    f'margin:0 4px">[{PHASES[ph]}]</span>'
                )
            previous_phase = ph
        e = int(ids[col])
        background = colors[e]
        shown = escape_text(arrays.raw_tokens[n]).replace(" ", "&nbsp;").replace("\n", "↵<br>")
        zero = " (zero-computation)" if e >= arrays.first_zero else ""
        title = escape_text(f"position {int(arrays.position[n])} · expert {e}{zero} · weight {float(weights[col]):.3f}")
        parts.append(
            f'<span class="qnext-token" data-expert="{e}" title="{title}" style="background:{background};'
            f'color:{text_color_on(background)};padding:1px 0;border-radius:2px">{shown or "∅"}</span>'
        )
    parts.append("</div>")
    return "".join(parts)


def expert_legend_html(num_experts: int, experts: list[int] | None = None) -> str:
    """A small legend of expert colours (only ``experts`` if given)."""
    chosen = range(num_experts) if experts is None else experts
    items = " ".join(  # spaces between the swatches: places where the line may wrap
        f'<span style="background:{expert_color(e, num_experts)};color:{text_color_on(expert_color(e, num_experts))};'
        f'padding:0 4px;margin:1px;border-radius:2px;font-family:monospace;display:inline-block">{e}</span>'
        for e in chosen
    )
    # white-space: ipywidgets' HTML panes do not wrap by default; 32+ experts must wrap to the pane's width
    return f'<div class="qnext-legend" style="white-space:normal;line-height:1.8">experts: {items}</div>'
