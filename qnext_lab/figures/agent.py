"""Views of an agent episode: the episode turn by turn as escaped HTML, and which experts each phase of the
episode leans on (per-layer routing lift of thinking, tool-call, tool-response and answer tokens).

Pure functions, data in and HTML / plotly figure out; the ``AgentView`` widget wires them. Lift of expert
``e`` in phase ``p`` at layer ``l`` = share of ``p``'s routed slots that go to ``e`` / share of all the
episode's generated-and-inserted slots (every phase but the prompt) that go to ``e``: above 1 the phase
uses the expert more than the episode does. Shares come from ``analysis.load.routed_shares``. All token and
tool text is escaped (it is model output or tool output: untrusted). Knows nothing about widgets or models.

    html = agent_episode_html(run)
    fig = phase_lift_figure(run.trace)

Dimension legend: L = layers, N = tokens, E = experts, P = phases shown.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..analysis.load import routed_shares
from ..trace.phases import ANSWER, PHASES, PROMPT, THINKING, TOOL_CALL, TOOL_RESPONSE
from ..trace.routing_trace import RoutingTrace
from .escape import escape_text
from .fragments import paragraph, title_line
from .palette import phase_color, phase_tint
from .theme import ANSWER_TINT, MUTED, PANE, THINKING_TINT, WARNING_TINT, template, themed

LIFT_PHASES: tuple[str, ...] = (THINKING, TOOL_CALL, TOOL_RESPONSE, ANSWER)
TOOL_TINT = phase_tint("tool_call", 0.12)  # the tool_call phase colour of every view, translucent
RESULT_TINT = phase_tint("tool_response", 0.12)  # the tool_response phase colour, translucent
_PHASE_STYLE = {phase: f"color:{phase_color(phase)}" for phase in (THINKING, TOOL_CALL, TOOL_RESPONSE)}


def phase_lift(trace: RoutingTrace, phases: Sequence[str] = LIFT_PHASES) -> pd.DataFrame:
    """One row per (layer, phase, expert): ``share`` of the phase's slots, ``lift`` = share / the share of
    all non-prompt slots, ``tokens`` of the phase. Phases without tokens are left out."""
    if not isinstance(trace, RoutingTrace):
        raise TypeError(f"expected a RoutingTrace, got {type(trace).__name__}")
    if trace.phase is None:
        raise ValueError("this trace has no phase labels; use the trace of run_agent or generate(..., capture=True)")
    unknown = [p for p in phases if p not in PHASES]
    if unknown:
        raise ValueError(f"unknown phases {unknown}; expected some of {PHASES}")
    phase = trace.phase.long()  # (N,)
    episode = phase != PHASES.index(PROMPT)  # (N,)
    base = routed_shares(trace.topk_ids, trace.num_experts, episode).numpy()  # (L, E)
    rows = []
    for name in phases:
        mask = phase == PHASES.index(name)  # (N,)
        n = int(mask.sum())
        if n == 0:
            continue
        share = routed_shares(trace.topk_ids, trace.num_experts, mask).numpy()  # (L, E)
        lift = np.divide(share, base, out=np.full_like(share, np.nan), where=base > 0)  # (L, E)
        for pos, layer in enumerate(trace.layer_indices):
            for e in range(trace.num_experts):
                rows.append((layer, name, e, share[pos, e], lift[pos, e], n))
    return pd.DataFrame(rows, columns=["layer", "phase", "expert", "share", "lift", "tokens"])


@themed
def phase_lift_figure(
    trace: RoutingTrace, phases: Sequence[str] = LIFT_PHASES, *, height: int | None = None
) -> go.Figure:
    """Heatmaps side by side, one per phase: layers x experts, colour = log2 lift (red: the phase uses the
    expert more than the episode does, blue: less)."""
    df = phase_lift(trace, phases)
    shown = [p for p in phases if p in set(df["phase"])]
    if not shown:
        raise ValueError("the trace has no tokens in any of the phases " + ", ".join(phases))
    layers, E = list(trace.layer_indices), trace.num_experts
    fig = make_subplots(
        rows=1,
        cols=len(shown),
        shared_yaxes=True,
        horizontal_spacing=0.02,
        # two short lines per title, so four side by side do not run into each other in a narrow pane; the count
        # is of routed tokens, tags (<think>, </think>, end of turn) included: more than the thinking/answer counts
        subplot_titles=[f"{p}<br>{int(df[df.phase == p].tokens.iloc[0])} routed tokens" for p in shown],
    )
    for c, name in enumerate(shown, start=1):
        part = df[df.phase == name]
        lift = part["lift"].to_numpy().reshape(len(layers), E)  # (L, E)
        share = part["share"].to_numpy().reshape(len(layers), E)  # (L, E)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.log2(lift)  # (L, E); experts the episode never used have no lift
        finite = np.isfinite(z)
        z = np.where(finite, z, None).tolist()  # None, not NaN: a widget's JSON has no NaN
        hover = np.stack([np.where(finite, lift, 0.0), share], axis=-1)  # (L, E, 2)
        fig.add_trace(
            go.Heatmap(
                z=z,
                x=list(range(E)),
                y=[str(layer) for layer in layers],
                zmid=0,
                zmin=-2,
                zmax=2,
                colorscale="RdBu_r",
                showscale=c == len(shown),
                customdata=hover,
                colorbar=dict(title="log2 lift", tickvals=[-2, -1, 0, 1, 2], ticktext=["¼", "½", "1", "2", "4"]),
                hovertemplate=f"{name}<br>layer %{{y}} · expert %{{x}}<br>lift %{{customdata[0]:.2f}}"
                "<br>share %{customdata[1]:.3f}<extra></extra>",
                name=name,
            ),
            row=1,
            col=c,
        )
        fig.update_xaxes(title_text="expert", row=1, col=c)
    fig.update_yaxes(title_text="layer", row=1, col=1)
    fig.update_layout(
        title=dict(text="Experts each phase leans on (lift vs the whole episode)", y=0.98, yanchor="top"),
        height=height or max(280, 90 + 22 * len(layers)),
        margin=dict(l=50, r=20, t=100, b=40),
        template=template(),  # transparent, readable on either page; a live figure swaps in the page's own
    )
    fig.update_annotations(font_size=11)
    return fig


def _block(title: str, body: str, tint: str) -> str:
    return (
        f"<div style='{PANE}background:{tint};margin:3px 0'><b>{escape_text(title)}</b>"
        f"<div style='white-space:pre-wrap'>{body}</div></div>"
    )


def _count(n: int, what: str) -> str:
    return f" <span style='color:{MUTED}'>({n} {what})</span>"


def agent_episode_html(run: Any, verdict: str = "") -> str:
    """The episode turn by turn (an ``AgentRun``): thinking, each tool call (name, arguments), the tool's
    result, and the answer, each with its token count; every text escaped. ``verdict``: the right/wrong badge
    (HTML the caller built with escaped text) shown beside the final answer, or in the summary when the
    episode ended without one."""
    parts = []
    for t, turn in enumerate(run.turns):
        gen = turn.generation
        parts.append(
            f"<div class='qnext-agent-turn'><b>turn {t + 1}</b>"
            f"<span style='color:{MUTED}'> · {gen.total_tokens} tokens · {escape_text(gen.finish_reason)}"
            "</span>"
        )
        if gen.thinking_tokens or gen.thinking:
            forced = " · budget reached" if gen.budget_hit else ""
            parts.append(
                _block(
                    "thinking" + forced,
                    escape_text(gen.thinking) + _count(gen.thinking_tokens, "tokens"),
                    THINKING_TINT,
                )
            )
        results = {id(r.call): r for r in turn.results}
        for call in gen.tool_calls:
            n = call.span[1] - call.span[0]
            if call.ok:
                body = (
                    f"{escape_text(call.name)}({escape_text(json.dumps(call.arguments, ensure_ascii=False))})"
                    + _count(n, "tokens")
                )
            else:
                body = f"could not be read: {escape_text(call.error or '')}<br>{escape_text(call.text)}" + _count(
                    n, "tokens"
                )
            parts.append(_block("tool call", body, TOOL_TINT if call.ok else WARNING_TINT))
            result = results.get(id(call))
            if result is not None:
                parts.append(
                    _block(
                        "tool result" if result.ok else "tool error",
                        escape_text(result.content),
                        RESULT_TINT if result.ok else WARNING_TINT,
                    )
                )
        if gen.answer:
            final = t == len(run.turns) - 1 and run.finish_reason == "answer"
            mark = f" {verdict}" if final and verdict else ""
            parts.append(
                _block("answer", escape_text(gen.answer) + _count(gen.answer_tokens, "tokens") + mark, ANSWER_TINT)
            )
        parts.append("</div>")
    summary = (
        f"<div style='margin-top:4px'><b>{escape_text(run.finish_reason)}</b> after {len(run.turns)} turn(s), "
        f"{run.thinking_tokens} thinking tokens"
        + (f" of a budget of {run.budget}" if run.budget is not None else "")
        + (f" · {escape_text(run.error)}" if run.error else "")
        + (f" · {verdict}" if verdict and run.finish_reason != "answer" else "")
        + "</div>"
    )
    return "<div class='qnext-agent'>" + "".join(parts) + summary + "</div>"


def agent_live_html(segments: Sequence[tuple[str, str]]) -> str:
    """The episode while it streams: ``(phase, text)`` segments, escaped, coloured by phase, each tool result
    on a line of its own under its phase name."""
    body = "".join(
        f"<span style='{_PHASE_STYLE.get(phase, '')}'>"
        + (f"<br>[{escape_text(phase)}] " if phase == TOOL_RESPONSE else "")
        + escape_text(text)
        + "</span>"
        for phase, text in segments
    )
    return f"<div style='{PANE}white-space:pre-wrap'>{body}</div>"


def agent_view_parts(prompt: str, status: str, run: Any | None) -> list[Any]:
    """What ``AgentView.to_html`` exports: the prompt and status, the episode, the routing-by-phase figure
    (HTML fragments escaped here, figures as plotly figures, for ``export.write_html``)."""
    parts: list[Any] = [paragraph(title_line(prompt, status), escaped=True)]
    if run is None:
        return [*parts, "<p>No episode has run yet.</p>"]
    parts.append(agent_episode_html(run))
    if run.trace is not None and run.trace.num_tokens:
        parts.append(phase_lift_figure(run.trace))
    return parts
