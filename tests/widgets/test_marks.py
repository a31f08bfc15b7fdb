"""Answers carry their right/wrong mark where the expected answer is known; the bundled model's views say what
it knows and flag a prompt outside it; labels follow the language setting."""

from __future__ import annotations

import pytest

from qnext_lab.tiny.recognise import answer_key
from qnext_lab.widgets.budget_tuner import BudgetTuner
from qnext_lab.widgets.expert_switchboard import ExpertSwitchboard
from qnext_lab.widgets.i18n import text
from qnext_lab.widgets.knowledge import Expectation, is_bundled
from qnext_lab.widgets.think_compare import ThinkCompare


def _mark(html: str) -> str:
    for name in ("qnext-right", "qnext-wrong", "qnext-unchecked"):
        if name in html:
            return name
    raise AssertionError(f"no right/wrong mark in {html!r}")


def test_compare_marks_each_answer_against_the_generators_answer(model_and_tokenizer):
    model, tok = model_and_tokenizer
    view = ThinkCompare(model, tok, "What is 12 + 30?", max_new_tokens=40)
    assert view.wait(120) and view.status == "done", view.errors.outputs
    for side, gen in zip(view.sides, view.results):
        expected = "qnext-right" if gen.answer.strip() == "42" else "qnext-wrong"
        assert _mark(side.answer.value) == expected
        assert "qnext-answer-box" in side.answer.value and side.answer.value.count("<b>") == 1  # labelled
        assert not side.text.value or "<br><br>" not in side.text.value.split("</b><br>", 1)[-1][:8]
    view.run("What is 12 + 30?", expected="999")  # the user's own expected answer wins
    assert view.wait(120)
    assert all(_mark(side.answer.value) == "qnext-wrong" for side in view.sides)
    assert "expected 999" in view.sides[0].answer.value
    view.close()


def test_an_unknown_question_is_flagged_before_answering(model_and_tokenizer):
    model, tok = model_and_tokenizer
    if not is_bundled(model):
        pytest.skip("the notes are for the bundled qnext-tiny")
    view = ThinkCompare(model, tok, "Hello, who are you?", max_new_tokens=8, autorun=False)
    view.run()
    assert "qnext-ood" in view.note.value and "counting letters (How many" in view.note.value  # before any answer
    assert view.wait(60)
    assert all(_mark(side.answer.value) == "qnext-unchecked" for side in view.sides)
    view.examples.value = view.examples.options[1][1]  # picking an example asks it
    assert view.wait(60) and "qnext-known" in view.note.value and view.prompt == view.examples.options[1][1]
    view.close()


def test_budget_view_counts_how_often_it_was_right(model_and_tokenizer):
    model, tok = model_and_tokenizer
    tuner = BudgetTuner(model, tok, "What is 478 + 356?", budget=0, max_budget=64, max_new_tokens=64)
    assert tuner.wait(120)
    tuner.budget = 48
    assert tuner.wait(120)
    assert set(tuner.verdicts) == {0, 48}
    right = sum(tuner.verdicts.values())
    assert f"{right} of 2" in tuner.tally.value or (right == 2 and "every budget" in tuner.tally.value)
    assert _mark(tuner.answer_pane.value) == ("qnext-right" if tuner.verdicts[48] else "qnext-wrong")
    tuner.close()


def test_expected_answers_are_compared_strictly_for_the_bundled_model_and_by_final_words_otherwise():
    class Named:
        class config:  # mimics a model's config
            _name_or_path = "some/other-model"

    other = Expectation.of("What is 478 + 356?", Named(), expected="834")
    assert other.expected == "834" and other.is_right("The sum is 834.") and other.is_right("**834**")
    assert not other.is_right("8345") and not other.is_right("834 or 835")
    # another model is not judged by the bundled model's key unless the caller passes it
    assert Expectation.of("What is 478 + 356?", Named()).is_right("834") is None
    keyed = Expectation.of("What is 478 + 356?", Named(), expected=answer_key())
    assert keyed.is_right("834") and not keyed.is_right("The sum is 834.")  # the key says: terse, exact
    assert Expectation.of("Hello", Named()).is_right("anything") is None
    with pytest.raises(TypeError, match="expected"):
        Expectation.of("Hello", Named(), expected=[834])


def test_labels_follow_the_language(model_and_tokenizer):
    model, tok = model_and_tokenizer
    view = ExpertSwitchboard(model, tok, "What is 12 + 30?", language="ja")
    assert view.run_button.description == "実行" and view.ablate_box.description == text("ablate", "ja")
    with pytest.raises(ValueError, match="language"):
        ExpertSwitchboard(model, tok, "x", language="fr")
    view.close()


def test_expert_lab_in_the_dashboard_starts_with_a_right_answer_and_a_chart(model_and_tokenizer):
    from qnext_lab.widgets.dashboard import lab

    model, tok = model_and_tokenizer
    dash = lab(model, tok, "What is 12 + 30?", max_new_tokens=64, max_budget=16, budget=4)
    assert dash.wait(300)
    assert dash.experts.moved is not None and len(dash.experts.moved.figure.data) == 1  # not an empty chart
    assert "qnext-verdict" in dash.experts.answers.value
    if is_bundled(model):
        assert dash.experts.answers.value.count("qnext-right") == 2  # as trained: right (and nothing switched off)
    dash.close()
