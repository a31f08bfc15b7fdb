"""Token and model text is untrusted: a token like <img src=x onerror=alert(1)> shows as text in every view
(hover labels, HTML panes, tick labels) and in every export."""

from __future__ import annotations

import json
import threading
from types import SimpleNamespace

import ipywidgets as widgets

from qnext_lab.figures.answers import answer_html, stream_html
from qnext_lab.widgets.budget_tuner import BudgetTuner
from qnext_lab.widgets.plot_pane import PlotPane
from qnext_lab.widgets.routing_heatmap import RoutingHeatmap
from qnext_lab.widgets.think_compare import ThinkCompare

XSS = "<img src=x onerror=alert(1)>"  # a token that must always show as text

ESCAPED = "&lt;img"


def rendered(widget: widgets.Widget) -> str:
    """Everything a widget tree puts on screen as markup: HTML/Label values and each figure's output (its plotly
    JSON and its HTML fallback)."""
    out = []
    stack = [widget]
    while stack:
        w = stack.pop()
        if isinstance(w, PlotPane):
            out.append(json.dumps(w.outputs))
        elif isinstance(w, (widgets.HTML, widgets.Label)):
            out.append(w.value)
        stack.extend(getattr(w, "children", ()))
    return "\n".join(out)


def test_routing_heatmap_escapes_tokens_in_every_mode_and_export(trace, tmp_path):
    view = RoutingHeatmap(trace, title=XSS, window_size=128)
    for mode in ("experts", "layers"):
        view.mode = mode
        screen = rendered(view)
        assert "<img" not in screen and ESCAPED in screen
    html = view.to_html(tmp_path / "routing.html").read_text()
    assert "<img" not in html and ESCAPED in html


def test_budget_tuner_escapes_prompt_thinking_and_answer(model_and_tokenizer, tmp_path):
    model, tok = model_and_tokenizer

    def answer(prompt, budget, cancel: threading.Event):
        return SimpleNamespace(
            thinking=f"think {XSS}",
            answer=f"answer {XSS}",
            thinking_tokens=3,
            answer_tokens=2,
            seconds=0.01,
            finish_reason=XSS,
            budget_hit=False,
        )

    tuner = BudgetTuner(model, tok, XSS, budget=2, answer_fn=answer, debounce_s=0.0)
    assert tuner.wait(30) and tuner.answer == f"answer {XSS}"
    screen = rendered(tuner)
    assert "<img" not in screen and screen.count(ESCAPED) >= 4
    html = tuner.to_html(tmp_path / "budget.html").read_text()
    assert "<img" not in html and html.count(ESCAPED) >= 4


def test_think_compare_escapes_streamed_text_labels_and_prompt(model_and_tokenizer, tmp_path):
    model, tok = model_and_tokenizer
    segments = [("thinking", False, XSS), ("thinking", True, XSS), ("answer", False, XSS)]
    assert "<img" not in stream_html(segments) and "&lt;img" in stream_html(segments)
    assert "<img" not in answer_html(segments, XSS) and "&lt;img" in answer_html(segments, XSS)
    view = ThinkCompare(model, tok, f"Repeat {XSS}", labels=(XSS, "plain"), max_new_tokens=8)
    assert view.wait(120) and view.status == "done"
    screen = rendered(view)
    assert "<img" not in screen and ESCAPED in screen
    html = view.to_html(tmp_path / "compare.html").read_text()
    assert "<img" not in html and ESCAPED in html
