"""ThinkCompare and lab(): two real generations side by side, each with its routing, and the difference."""

from __future__ import annotations

import numpy as np

from qnext_lab.figures.compare import expert_use
from qnext_lab.thinking.generation import generate
from qnext_lab.widgets.dashboard import lab
from qnext_lab.widgets.think_compare import ThinkCompare

PROMPT = "What is 12 + 30?"


def test_both_panes_show_their_generation_counts_and_routing(model_and_tokenizer):
    model, tok = model_and_tokenizer
    view = ThinkCompare(model, tok, PROMPT, max_new_tokens=20)
    assert view.wait(120) and view.status == "done", view.errors.outputs
    thinking, plain = view.results
    assert thinking.thinking_mode and not plain.thinking_mode
    assert plain.answer == generate(model, tok, PROMPT, thinking=False, max_new_tokens=20).answer
    for side, gen in zip(view.sides, view.results):
        assert f"answer <b>{gen.answer_tokens}</b>" in side.stats.value
        assert side.heatmap is not None and side.heatmap.trace is gen.trace
    diff = np.asarray(view.difference.figure.data[0].z)
    np.testing.assert_allclose(diff, expert_use(thinking.trace) - expert_use(plain.trace))


def test_a_new_prompt_reuses_the_views(model_and_tokenizer):
    model, tok = model_and_tokenizer
    view = ThinkCompare(model, tok, PROMPT, max_new_tokens=10)
    assert view.wait(120)
    heatmap = view.sides[0].heatmap.heatmap
    view.prompt_box.value = "What is 5 + 5?"  # as if the user typed it
    assert view.wait(120) and view.runs == 2
    assert view.sides[0].heatmap.heatmap is heatmap
    for side, gen in zip(view.sides, view.results):  # both sides answered the new prompt, in the same views
        assert "5 + 5" in gen.prompt and "12 + 30" not in gen.prompt
        assert side.heatmap.trace is gen.trace
    assert view.results[0].thinking_mode and not view.results[1].thinking_mode


def test_lab_combines_compare_budget_and_routing(model_and_tokenizer, tmp_path):
    model, tok = model_and_tokenizer
    dash = lab(model, tok, PROMPT, budget=4, max_budget=16, max_new_tokens=12)
    assert dash.wait(120), dash.errors.outputs
    assert dash.tuner.shown_budget == 4
    assert dash.routing is not None and dash.routing.trace is dash.compare.results[0].trace
    html = dash.to_html(tmp_path / "lab.html").read_text()
    assert "Routing weights" in html and "qnext-answer" in html
    assert len(dash.tabs.children) == 4
    dash.prompt_box.value = "What is 5 + 5?"  # typed + Enter: every part is asked the new question
    assert dash.wait(120)
    assert dash.compare.prompt == dash.tuner.prompt == dash.experts.prompt == "What is 5 + 5?"
    assert "5 + 5" in dash.compare.results[0].prompt


def test_two_models_side_by_side(model_and_tokenizer):
    model, tok = model_and_tokenizer
    view = ThinkCompare(
        model, tok, PROMPT, model_b=model, tokenizer_b=tok, labels=("Instruct", "Thinking"), max_new_tokens=12
    )
    assert view.wait(120) and view.status == "done", view.errors.outputs
    assert [s.label for s in view.sides] == ["Instruct", "Thinking"]
    assert all(gen.thinking_mode for gen in view.results)  # both run their own default: thinking on
    np.testing.assert_allclose(np.asarray(view.difference.figure.data[0].z), 0.0)  # same model, same prompt


def test_an_error_during_generation_is_shown_in_the_widget(model_and_tokenizer):
    model, tok = model_and_tokenizer
    view = ThinkCompare(model, tok, "What is 2 + 2? /no_think", budget=4, max_new_tokens=8)
    assert view.wait(60)
    assert view.status.startswith("error")
    assert any("/no_think" in out["text"] for out in view.errors.outputs)
