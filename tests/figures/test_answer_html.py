"""The views' HTML builders (figures/answers.py, figures/fragments.py, the agent's live pane, the offload note): every
piece of text that reaches them may be model output, so none of it shows as markup; the CSS classes the browser
tests and the widgets look for are on the parts they name."""

from __future__ import annotations

import pytest

from qnext_lab.figures import answers, fragments
from qnext_lab.figures.agent import agent_live_html
from qnext_lab.figures.offload import no_fit_html

XSS = "<img src=x onerror=alert(1)>"
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"


def built() -> dict[str, str]:
    """Each builder's output with the hostile text in every text argument."""
    segments = [("thinking", False, XSS), ("thinking", True, XSS), ("answer", False, XSS)]
    return {
        "badge": answers.verdict_badge(False, XSS),
        "tally": answers.tally_html(XSS),
        "known note": answers.prompt_note_html(XSS, "known"),
        "ood note": answers.prompt_note_html(XSS, "ood"),
        "waiting": answers.waiting_html(XSS),
        "cut": answers.budget_cut_html(XSS, XSS),
        "thinking": answers.thinking_pane_html(XSS, XSS, tokens=3),
        "answer box": answers.answer_box_html(XSS, XSS, tokens=2),
        "streamed thinking": answers.stream_html(segments, XSS),
        "streamed answer": answers.answer_html(segments, XSS),
        "bold": fragments.bold(XSS),
        "italic": fragments.italic(XSS),
        "small": fragments.small(XSS),
        "heading": fragments.heading(XSS),
        "paragraph": fragments.paragraph(XSS, italic=True),
        "title line": fragments.title_line(XSS, XSS),
        "filled": fragments.filled(XSS + " {n} {who}", bold=("n",), n=XSS, who=XSS),
        "side pane": fragments.side_pane(XSS),
        "static copy": fragments.static_copy_html(XSS, ""),
        "agent live": agent_live_html([("thinking", XSS), ("tool_response", XSS)]),
        "no fit": no_fit_html(XSS),
    }


@pytest.mark.parametrize("name", list(built()))
def test_text_is_escaped_in_every_builder(name):
    out = built()[name]
    assert "<img" not in out and ESCAPED in out, out


def test_answer_box_carries_its_answer_and_verdict_classes():
    badge = answers.verdict_badge(True, "✓ right")
    assert 'class="qnext-verdict qnext-right"' in badge and "✓ right" in badge
    assert "qnext-unchecked" in answers.verdict_badge(None, "not checked")
    assert "qnext-wrong" in answers.verdict_badge(False, "✗ wrong")
    box = answers.answer_box_html(" 834\n", "answer", verdict=badge, tokens=3)
    assert box.startswith('<div class="qnext-answer-box"') and '<span class="qnext-answer">834</span>' in box
    assert "(3 tokens)" in box and box.index('qnext-answer"') < box.index("qnext-verdict")


def test_streamed_answer_waits_with_an_ellipsis_and_thinking_keeps_forced_text_apart():
    assert '<span class="qnext-answer">…</span>' in answers.answer_html([("thinking", False, "hm")], "answer")
    pane = answers.stream_html([("thinking", False, "\n\nhm"), ("thinking", True, " stop\n")], "thinking")
    assert 'class="qnext-thinking"' in pane and ">hm</span>" in pane and 'class="qnext-forced"' in pane
    assert answers.stream_html([("answer", False, "1")]) == ""


def test_filled_bolds_only_the_named_values():
    line = fragments.filled("budget {budget} · {finish}", bold=("budget",), budget=0, finish="a & b")
    assert line == "budget <b>0</b> · a &amp; b"
    with pytest.raises(ValueError, match="bold names"):
        fragments.filled("{a}", bold=("b",), a=1)


def test_prompt_note_refuses_an_unknown_kind():
    with pytest.raises(ValueError, match="kind"):
        answers.prompt_note_html("x", "maybe")
