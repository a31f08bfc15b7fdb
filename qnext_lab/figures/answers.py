"""A question's answer on screen, as escaped HTML: the thinking pane, the answer box with its right/wrong badge,
the tally of right answers, the note on what the model knows about the prompt, and the counts of a generation.

Every view that shows an answer (BudgetTuner, ThinkCompare, ExpertSwitchboard, AgentView, lab()) builds it here,
so an answer box always carries the ``qnext-answer-box`` class with its answer in ``qnext-answer`` and its mark in
``qnext-verdict`` (what the browser tests look for). Thinking and answer text is model output, untrusted: escaped
with ``escape.text_html``; labels arrive already translated (``widgets.i18n``) and are escaped too. Knows nothing
about widgets, models or how an answer is judged (the caller passes ``right``: True, False or None).

    answer_box_html("834", "answer", verdict=verdict_badge(True, "✓ right"), tokens=3)
    thinking_pane_html("478 + 356 …", "thinking", tokens=12)
"""

from __future__ import annotations

from collections.abc import Sequence

from .escape import escape_text, text_html
from .theme import ANSWER_TINT, FORCED, MUTED, PANE, RIGHT_BG, THINKING_TINT, UNKNOWN_BG, WARNING_TINT, WRONG_BG

_PANE = f"{PANE}min-height:2.2em;"  # a pane that keeps its height while it waits for text
_STREAM_PANE = f"{PANE}background:{THINKING_TINT};max-height:220px;overflow:auto;"  # scrolls while it streams

# (phase, forced, text) pieces of a streamed generation, joined while they arrive (ThinkCompare)
Segments = Sequence[tuple[str, bool, str]]


# ---------------------------------------------------------------------------------------------------- the mark
def badge(text: str, background: str, css_class: str) -> str:
    """An inline label with white text on ``background`` (``text`` is escaped here)."""
    return (
        f'<span class="{css_class}" style="background:{background};color:#ffffff;border-radius:3px;'
        f'padding:1px 6px;font-weight:bold;font-family:var(--jp-ui-font-family, sans-serif)">{escape_text(text)}</span>'
    )


def verdict_badge(right: bool | None, label: str) -> str:
    """The answer's mark: ✓ right (``right=True``), ✗ wrong (False) or "not checked" (None), ``label`` its words."""
    if right is None:
        return badge(label, UNKNOWN_BG, "qnext-verdict qnext-unchecked")
    return badge(label, RIGHT_BG if right else WRONG_BG, f"qnext-verdict qnext-{'right' if right else 'wrong'}")


def tally_html(line: str) -> str:
    """How often the answer was right over the budgets tried (``line``: the sentence that says so)."""
    return f'<div class="qnext-tally" style="color:{MUTED}">{escape_text(line)}</div>'


def prompt_note_html(message: str, kind: str) -> str:
    """The note shown before answering: ``kind`` "known" (a question the model was trained on: a plain line),
    "near" (a size it never saw) or "ood" (none of what it knows): a warning."""
    if kind == "known":
        return f'<div class="qnext-prompt-note qnext-known" style="color:{MUTED}">{escape_text(message)}</div>'
    if kind not in ("near", "ood"):
        raise ValueError(f"kind must be 'known', 'near' or 'ood', got {kind!r}")
    return (
        f'<div class="qnext-prompt-note qnext-{kind}" style="{PANE}background:{WARNING_TINT};'
        f'font-family:var(--jp-ui-font-family, sans-serif)">⚠ {escape_text(message)}</div>'
    )


# ---------------------------------------------------------------------------------------------------- panes
def waiting_html(message: str) -> str:
    """A pane that is waiting for its answer (``message``: what it waits for)."""
    return f'<div style="{_PANE}color:{MUTED}">{escape_text(message)}</div>'


def budget_cut_html(message: str, complete: str = "") -> str:
    """Under cut thinking: the budget stopped it (``message``, orange); ``complete``: why the cut thinking may be
    the whole of the model's own (the budget ran out just as it ended)."""
    out = f'<div style="color:{FORCED};font-weight:bold">{escape_text(message)}</div>'
    if complete:
        out += f'<div class="qnext-cut-complete" style="color:{MUTED}">{escape_text(complete)}</div>'
    return out


def thinking_pane_html(thinking: str, label: str, *, tokens: int, cut: str = "") -> str:
    """A finished generation's thinking (``tokens`` of it), ``cut``: ``budget_cut_html`` when the budget ended it."""
    body = text_html(thinking.strip("\n"))
    return f'<div style="{_PANE}background:{THINKING_TINT}"><b>{escape_text(label)}</b> ({tokens} tokens)<br>{body}{cut}</div>'


def answer_box_html(
    answer: str, label: str, *, verdict: str = "", tokens: int | None = None, style: str = "", escaped: bool = False
) -> str:
    """The labelled answer box: ``label`` (with ``tokens``, the answer's token count, when given), the answer,
    then ``verdict`` (``verdict_badge``; '' while the answer is still coming). ``style``: CSS added to the pane's
    (its place in a row); ``escaped``: ``answer`` is already escaped HTML (``stream_answer_html``)."""
    body = answer if escaped else text_html(answer.strip())
    count = f" ({tokens} tokens)<br>" if tokens is not None else " "
    return (
        f'<div class="qnext-answer-box" style="{_PANE}background:{ANSWER_TINT};{style}"><b>{escape_text(label)}</b>'
        f'{count}<span class="qnext-answer">{body}</span> {verdict}</div>'
    )


def answers_row_html(boxes: Sequence[str]) -> str:
    """Answer boxes side by side, each taking an equal share of the row."""
    return f"<div style='display:flex;gap:8px'>{''.join(boxes)}</div>"


# ---------------------------------------------------------------------------------------------------- streaming
def _trimmed(segments: Segments, phase: str) -> list[tuple[bool, str]]:
    """The ``(forced, text)`` pieces of one phase, without the blank lines at its two ends."""
    parts = [(forced, body) for ph, forced, body in segments if ph == phase]
    while parts and not parts[0][1].strip():
        parts.pop(0)
    while parts and not parts[-1][1].strip():
        parts.pop()
    if parts:
        parts[0] = (parts[0][0], parts[0][1].lstrip("\n"))
        parts[-1] = (parts[-1][0], parts[-1][1].rstrip("\n"))
    return parts


def stream_html(segments: Segments, thinking_label: str = "thinking") -> str:
    """The thinking of streamed ``(phase, forced, text)`` segments (forced budget text orange); '' before any."""
    out = []
    for forced, body in _trimmed(segments, "thinking"):
        if forced:
            out.append(f'<span class="qnext-forced" style="color:{FORCED};font-weight:bold">{text_html(body)}</span>')
        else:
            out.append(f'<span class="qnext-thinking" style="color:{MUTED};font-style:italic">{text_html(body)}</span>')
    if not out:
        return ""
    return (
        f'<div class="qnext-thinking-pane" style="{_STREAM_PANE}"><b>{escape_text(thinking_label)}</b><br>'
        f"{''.join(out)}</div>"
    )


def answer_html(segments: Segments, label: str, verdict: str = "") -> str:
    """The answer box of streamed segments, with ``verdict`` once the answer is complete ('…' before any text)."""
    body = "".join(text_html(body) for _, body in _trimmed(segments, "answer")) or "…"
    return answer_box_html(body, label, verdict=verdict, style="margin-top:4px;", escaped=True)
