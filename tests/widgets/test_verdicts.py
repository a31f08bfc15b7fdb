"""What the views say: every answer marked where the expected answer is known (AgentView included), the
untrained-question note right about near misses, generic views not tied to the bundled model (score=,
expected=), the accuracy curve never ahead of the first answer, a budget that cuts a complete thinking
explained, numbers with units, and no English in a Japanese view's own words."""

from __future__ import annotations

import re

import pytest

from qnext_lab.thinking.generation import generate
from qnext_lab.thinking.verdict import AnswerKey, Expected
from qnext_lab.tiny.recognise import answer_key
from qnext_lab.tiny.tasks import make_problems, multiply
from qnext_lab.widgets.agent_view import AgentView
from qnext_lab.widgets.budget_tuner import BudgetTuner
from qnext_lab.widgets.knowledge import Expectation, is_bundled
from qnext_lab.widgets.think_compare import ThinkCompare, generation_stats_html


class Other:
    class config:  # a model that is not the bundled one
        _name_or_path = "some/other-model"


def test_a_small_sum_is_a_near_miss_not_a_meaningless_question():
    note = Expectation.of("What is 8 + 5?", Other(), expected=answer_key()).note_html()
    assert "qnext-near" in note and "qnext-ood" not in note and "13" in note and "1-digit" in note
    note = Expectation.of("What is 47856 + 35612?", Other(), expected=answer_key()).note_html()
    assert "qnext-near" in note and "qnext-known" not in note and "83468" in note and "5-digit" in note
    check = Expectation.of("What is 8 + 5?", Other(), expected=answer_key())
    assert check.is_right("13") and not check.is_right("5") and check.warns


def test_the_japanese_notes_list_the_families_in_japanese():
    note = Expectation.of("Hello, who are you?", Other(), expected=answer_key(), language="ja").note_html()
    words = re.sub(r"\((?:What|How|Which|Sort)[^)]*\)|（[^）]*）|qnext-tiny|<[^>]+>|&[a-z]+;", "", note)
    assert "qnext-ood" in note and "足し算" in note
    assert not re.findall(r"[A-Za-z]{3,}", words.split(">", 1)[-1]), words  # no English left in the sentence


def test_a_custom_answer_key_marks_every_prompt_of_a_view(model_and_tokenizer):
    model, tok = model_and_tokenizer

    class Everything42(AnswerKey):
        def expected(self, prompt):
            return Expected(answer="42", model="test")

    view = ThinkCompare(model, tok, "What is 12 + 30?", max_new_tokens=24, expected=Everything42())
    assert view.wait(120)
    view.run("What is 40 + 2?")  # the key holds for a new prompt too
    assert view.wait(120)
    for side, gen in zip(view.sides, view.results):
        want = "qnext-right" if gen.answer.strip().split()[-1:] == ["42"] else "qnext-wrong"
        assert want in side.answer.value
    view.close()


@pytest.mark.parametrize(
    ("prompt", "note"),
    [("What is 478 + 356?", "qnext-known"), ("Hello, who are you?", "qnext-ood"), ("What is 23 * 45?", "qnext-known")],
)
def test_agent_view_marks_its_answer_and_warns_before_answering(model_and_tokenizer, prompt, note):
    model, tok = model_and_tokenizer
    if not is_bundled(model):
        pytest.skip("the notes are the bundled qnext-tiny's")
    view = AgentView(model, tok, prompt, [multiply], max_turns=3, max_new_tokens=120)
    assert note in view.note.value  # before any answer
    view.run(wait=True)
    run = view.result
    expected = answer_key().expected(prompt).answer
    if expected is None:
        assert view.verdict == "unchecked" and "qnext-unchecked" in view.episode.value
    else:
        right = run.finish_reason == "answer" and run.answer.strip() == expected
        assert view.verdict == ("right" if right else "wrong")
        assert ("qnext-right" if right else "qnext-wrong") in view.episode.value
    view.close()


def test_budget_tuner_judges_plain_string_problems_with_the_callers_score(model_and_tokenizer):
    model, tok = model_and_tokenizer
    answers = {"What is 12 + 30?": "42", "What is 20 + 22?": "42"}
    with pytest.raises(TypeError, match="score="):  # was an AttributeError deep inside the sweep
        BudgetTuner(model, tok, "What is 12 + 30?", problems=list(answers), budget=2, max_budget=4)
    seen = []

    def score(problem, answer):
        seen.append(problem)
        return answer.strip() == answers[problem]

    tuner = BudgetTuner(
        model,
        tok,
        "What is 12 + 30?",
        problems=list(answers),
        score=score,
        budget=2,
        max_budget=4,
        max_new_tokens=16,
        curve_budgets=[0, 4],
        debounce_s=0.0,
    )
    assert tuner.wait(120), tuner.errors.outputs
    assert tuner.sweep is not None and set(seen) == set(answers)
    tuner.close()


def test_the_first_answer_is_shown_before_the_accuracy_curve_starts(model_and_tokenizer):
    model, tok = model_and_tokenizer
    started = []

    class Watched(BudgetTuner):
        def _start_curve(self, budgets):
            started.append((self.shown_budget, self.answer))  # what is on screen when the sweep begins
            super()._start_curve(budgets)

    problems = make_problems(2, seed=0)
    tuner = Watched(
        model,
        tok,
        problems[0].question,
        problems,
        budget=2,
        max_budget=4,
        max_new_tokens=16,
        curve_budgets=[0, None],
        debounce_s=0.0,
    )
    assert tuner.wait(120)
    assert len(started) == 1 and started[0][0] == 2  # the sweep began with budget 2's answer on screen
    assert tuner.curve is not None and tuner.curve_status.value == ""
    tuner.close()


def test_a_budget_that_cuts_a_complete_thinking_is_explained(model_and_tokenizer):
    model, tok = model_and_tokenizer
    prompt = "What is 478 + 356?"
    full = generate(model, tok, prompt, max_new_tokens=96)
    if full.finish_reason != "eos" or full.thinking_tokens < 2:
        pytest.skip("needs a model that finishes its thinking")
    tuner = BudgetTuner(model, tok, prompt, budget=full.thinking_tokens, max_budget=96, max_new_tokens=96)
    assert tuner.wait(120)
    assert tuner.last_result.budget_hit and tuner.thinking.strip() == full.thinking.strip()
    assert "qnext-cut-complete" in tuner.thinking_pane.value and "Time is up" in tuner.thinking_pane.value
    tuner.budget = max(0, full.thinking_tokens // 2)  # a thinking really cut short: no such note
    assert tuner.wait(120)
    assert "qnext-cut-complete" not in tuner.thinking_pane.value
    tuner.close()


def test_times_say_what_they_measure(model_and_tokenizer):
    model, tok = model_and_tokenizer
    gen = generate(model, tok, "What is 12 + 30?", thinking=False, max_new_tokens=8)
    line = generation_stats_html(gen)
    assert "tokens/s" in line and "first after" in line and "tok/s" not in line
    assert f"{gen.total_tokens} tokens generated" in line
    tuner = BudgetTuner(model, tok, "What is 12 + 30?", budget=2, max_budget=4, max_new_tokens=16, debounce_s=0.0)
    assert tuner.wait(60)
    assert "after the move" in tuner.status and "model's own work" in tuner.status
    assert not re.search(r"\d\.\d\d(?! s| ms)", tuner.status)  # every time carries its unit
    tuner.close()


def test_a_japanese_budget_view_has_no_english_words_of_its_own(model_and_tokenizer):
    model, tok = model_and_tokenizer
    problems = make_problems(2, seed=0)
    tuner = BudgetTuner(
        model,
        tok,
        problems[0].question,
        problems,
        budget=2,
        max_budget=4,
        max_new_tokens=16,
        curve_budgets=[0, None],
        debounce_s=0.0,
        language="ja",
    )
    assert tuner.wait(120)
    allowed = {"max_new_tokens", "top", "Time", "is", "up"}  # an API name, and the model's own stop text
    for shown in (tuner.counts.value, tuner.status, tuner.tally.value):
        plain = re.sub(r"<[^>]+>", "", shown)
        assert not set(re.findall(r"[A-Za-z_]{3,}", plain)) - allowed, plain
    layout = tuner.curve.figure.layout
    for words in (
        layout.xaxis.title.text,
        layout.yaxis.title.text,
        *(t.name for t in tuner.curve.figure.data if t.name),
    ):
        assert not re.findall(r"[A-Za-z]{3,}", words), words  # the current-budget marker's name too
    tuner.close()


def test_prompt_boxes_keep_a_usable_width_and_statuses_wrap(model_and_tokenizer):
    """At 780 px lab()'s prompt box shrank to nothing beside the examples and the button; the tuner's one-line
    status clipped its unit. The prompt box keeps 16em and the controls wrap; the status is HTML that wraps."""
    import ipywidgets as widgets

    model, tok = model_and_tokenizer
    tuner = BudgetTuner(model, tok, "What is 12 + 30?", budget=2, max_budget=4, max_new_tokens=16, debounce_s=0.0)
    assert tuner.wait(60)
    assert isinstance(tuner.status_label, widgets.HTML)
    assert re.search(r"answered [\d.]+ m?s after", tuner.status_label.value)
    row = next(c for c in tuner.children if isinstance(c, widgets.HBox) and tuner.slider in c.children)
    assert row.layout.flex_flow == "row wrap"
    tuner.close()
    compare = ThinkCompare(model, tok, "What is 12 + 30?", autorun=False)
    assert compare.prompt_box.layout.min_width == "16em"
    row = next(c for c in compare.children if isinstance(c, widgets.HBox) and compare.prompt_box in c.children)
    assert row.layout.flex_flow == "row wrap"
    compare.close()


def test_the_widget_layer_names_the_bundled_model_in_one_place_only():
    """Generic views take expected= and score= from the caller; only knowledge.default_key picks the bundled
    model's key (for qnext-tiny given none)."""
    import ast
    from pathlib import Path

    import qnext_lab.widgets as pkg

    found = []
    for path in sorted(Path(pkg.__file__).parent.glob("*.py")):
        tree = ast.parse(path.read_text())
        owners = {
            id(node): fn.name for fn in ast.walk(tree) if isinstance(fn, ast.FunctionDef) for node in ast.walk(fn)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and "tiny" in node.module.split("."):
                found.append((path.name, owners.get(id(node))))
    assert set(found) == {("knowledge.py", "default_key")}, found
