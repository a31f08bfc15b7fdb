"""The real effect on the bundled qnext-tiny: cutting the thinking hurts the hard task families, and the
budget bookkeeping holds on a trained model. Skipped when the checkpoint has not been trained yet."""

from __future__ import annotations

import pytest

from qnext_lab.thinking.generation import generate
from qnext_lab.thinking.sweep import sweep_budget
from qnext_lab.tiny.paths import STOP_TEXT, tiny_path
from qnext_lab.tiny.tasks import HARD_FAMILIES, make_problems, score

pytestmark = pytest.mark.skipif(
    not (tiny_path(check=False) / "config.json").is_file(), reason="bundled qnext-tiny checkpoint not trained yet"
)


@pytest.fixture(scope="module")
def tiny():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = tiny_path()
    return AutoModelForCausalLM.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


def test_budget_zero_is_less_accurate_than_unlimited_on_hard_families(tiny):
    model, tok = tiny
    problems = make_problems(24, seed=2024, families=list(HARD_FAMILIES))
    df = sweep_budget(model, tok, problems, [0, None], score=score, batch_size=24, non_thinking=False)
    at_zero, unlimited = df["accuracy"].tolist()  # rows follow the budgets: 0, then no limit
    assert at_zero + 0.2 <= unlimited, df


def test_trained_model_respects_budgets_and_uses_its_stop_text(tiny):
    model, tok = tiny
    assert model.generation_config.thinking_stop_text == STOP_TEXT
    problem = make_problems(1, seed=5, families=["add"])[0]
    full = generate(model, tok, problem.question)
    assert full.finish_reason == "eos" and full.thinking_tokens > 4 and full.answer.isdigit()
    cut = generate(model, tok, problem.question, budget=4)
    assert cut.thinking_tokens == 4 and cut.finish_reason == "budget"
    assert STOP_TEXT.strip().split("\n")[0] in cut.text and cut.text.count("</think>") == 1
