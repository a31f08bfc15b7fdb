"""BudgetTuner: slider moves re-answer with the real model; a slow older answer is never shown for a newer
budget; errors are shown in the widget."""

from __future__ import annotations

import threading

from qnext_lab.thinking.generation import generate
from qnext_lab.widgets.budget_tuner import BudgetTuner, streaming_answer_fn

PROMPT = "What is 12 + 30?"


def test_slider_move_shows_the_models_answer_at_that_budget(model_and_tokenizer):
    model, tok = model_and_tokenizer
    tuner = BudgetTuner(model, tok, PROMPT, budget=8, max_new_tokens=24, debounce_s=0.0)
    assert tuner.wait(60)
    assert tuner.shown_budget == 8
    tuner.slider.value = 2  # as if the user dragged it
    assert tuner.budget == 2
    assert tuner.wait(60)
    expected = generate(model, tok, PROMPT, budget=2, max_new_tokens=24)
    assert tuner.shown_budget == 2
    assert tuner.answer == expected.answer and tuner.thinking == expected.thinking
    assert tuner.last_result.thinking_tokens <= 2
    assert "budget <b>2</b>" in tuner.counts.value


def test_a_slow_stale_answer_is_never_shown_for_a_newer_budget(model_and_tokenizer):
    model, tok = model_and_tokenizer
    real = streaming_answer_fn(model, tok, max_new_tokens=16)
    calls, cancelled = [], []
    started_10 = threading.Event()

    def slow_for_budget_10(prompt, budget, cancel):
        calls.append(budget)
        if budget == 10:  # deliberately slow: still running when the slider moves on
            started_10.set()
            cancel.wait(60.0)  # until the newer request cancels it (a hang guard, never reached when it works)
            cancelled.append(cancel.is_set())
        return real(prompt, budget, threading.Event())  # finishes even when cancelled: must be discarded

    tuner = BudgetTuner(model, tok, PROMPT, budget=0, max_new_tokens=16, debounce_s=0.05, answer_fn=slow_for_budget_10)
    shown = []  # (budget of the answer on screen, budget requested at that moment)
    tuner.observe(
        lambda c: shown.append((c["new"], tuner._requested)) if c["new"] >= 0 else None, names=["shown_budget"]
    )
    assert tuner.wait(60)
    tuner.slider.value = 10
    assert started_10.wait(60), "budget 10 never started generating"  # it is now generating (slowly)
    assert calls[-1] == 10
    tuner.slider.value = 3
    assert tuner.wait(60)
    assert cancelled == [True]
    assert tuner.shown_budget == 3 and calls[-1] == 3
    assert all(answer_budget == requested for answer_budget, requested in shown), shown
    assert 10 not in [b for b, _ in shown]


def test_rapid_moves_are_debounced_to_the_last_value(model_and_tokenizer):
    model, tok = model_and_tokenizer
    calls = []
    real = streaming_answer_fn(model, tok, max_new_tokens=8)
    tuner = BudgetTuner(
        model,
        tok,
        PROMPT,
        budget=1,
        max_new_tokens=8,
        debounce_s=0.3,
        answer_fn=lambda p, b, c: calls.append(b) or real(p, b, c),
    )
    for value in (2, 3, 4, 5, 6):
        tuner.slider.value = value
    assert tuner.wait(60)
    assert calls == [6] and tuner.shown_budget == 6


def test_an_error_while_answering_is_shown_in_the_widget(model_and_tokenizer):
    model, tok = model_and_tokenizer

    def broken(prompt, budget, cancel):
        raise RuntimeError(f"no answer at budget {budget}")

    tuner = BudgetTuner(model, tok, PROMPT, budget=4, answer_fn=broken, debounce_s=0.0)
    assert tuner.wait(30)
    assert any("no answer at budget 4" in out["text"] for out in tuner.errors.outputs)
    assert "error" in tuner.status_label.value and tuner.shown_budget == -1


def test_changing_the_prompt_reanswers(model_and_tokenizer):
    model, tok = model_and_tokenizer
    tuner = BudgetTuner(model, tok, PROMPT, budget=4, max_new_tokens=12, debounce_s=0.0)
    assert tuner.wait(60)
    tuner.prompt = "What is 5 + 5?"
    assert tuner.wait(60)
    assert tuner.answer == generate(model, tok, "What is 5 + 5?", budget=4, max_new_tokens=12).answer
    assert "5 + 5" in tuner.header.value


def test_with_problems_the_accuracy_curve_marks_the_current_budget(model_and_tokenizer):
    from qnext_lab.figures.budget import MARKER_NAME, budget_x
    from qnext_lab.tiny.tasks import make_problems

    model, tok = model_and_tokenizer
    problems = make_problems(4, seed=0)
    tuner = BudgetTuner(
        model,
        tok,
        problems[0].question,
        problems,
        budget=4,
        max_budget=8,
        max_new_tokens=16,
        curve_budgets=[0, 4, 8, None],
        debounce_s=0.0,
    )
    assert tuner.wait(120), tuner.errors.outputs
    assert list(tuner.sweep["budget"].iloc[:3]) == [0, 4, 8]
    marker = next(t for t in tuner.curve.figure.data if t.name == MARKER_NAME)
    meta = tuner.curve.figure.layout.meta
    assert marker.x[0] == budget_x(4, meta["zero_x"], meta["unlimited_x"])
    tuner.slider.value = 8
    marker = next(t for t in tuner.curve.figure.data if t.name == MARKER_NAME)
    assert marker.x[0] == budget_x(8, meta["zero_x"], meta["unlimited_x"])
    assert tuner.wait(60) and tuner.shown_budget == 8
