"""Prefix reuse and budget sweeps: re-answering a cached unlimited run at budget b gives exactly the
tokens of a direct budgeted generation; sweep_budget returns the documented table and agrees with naive
per-budget generation."""

from __future__ import annotations

import pandas as pd
import pytest

from qnext_lab.thinking.generation import generate, generate_batch
from qnext_lab.thinking.prefix import answer_at_budget, answers_at_budget
from qnext_lab.thinking.sweep import COLUMNS, SweepRuns, sweep_budget, sweep_generations

PROMPTS = ["What is 2 + 3?", "hello there", "Sort 3 1 2.", "How many r in strawberry?"]
BUDGETS = [0, 1, 4, 11, 30, None]


def test_prefix_reuse_gives_exactly_the_direct_budgeted_tokens(model, thinking_tok):
    tok = thinking_tok
    for prompt in PROMPTS[:2]:
        full = generate(model, tok, prompt, max_new_tokens=40)
        for b in BUDGETS:
            direct = generate(model, tok, prompt, budget=b, max_new_tokens=40)
            again = answer_at_budget(model, tok, full, b)
            assert again.token_ids == direct.token_ids, (prompt, b)
            assert again.forced == direct.forced and again.labels == direct.labels
            assert (again.thinking_tokens, again.finish_reason) == (direct.thinking_tokens, direct.finish_reason)


def test_batched_reanswers_match_direct_batches(model, thinking_tok):
    full = generate_batch(model, thinking_tok, PROMPTS, max_new_tokens=30)
    budgets = [0, 3, 12, None]
    again = answers_at_budget(model, thinking_tok, full, budgets)
    direct = generate_batch(model, thinking_tok, PROMPTS, budget=budgets, max_new_tokens=30)
    assert [g.token_ids for g in again] == [g.token_ids for g in direct]
    assert again[-1].reused  # unlimited: no model call at all


def test_reanswer_refuses_runs_it_cannot_cut(model, thinking_tok):
    budgeted = generate(model, thinking_tok, "hi", budget=2, max_new_tokens=8)
    with pytest.raises(ValueError, match="budget=None"):
        answer_at_budget(model, thinking_tok, budgeted, 1)
    sampled = generate(model, thinking_tok, "hi", max_new_tokens=8, do_sample=True, seed=0)
    with pytest.raises(ValueError, match="do_sample=False"):
        answer_at_budget(model, thinking_tok, sampled, 1)
    with pytest.raises(TypeError):
        answer_at_budget(model, thinking_tok, "not a generation", 1)


def _score(problem, answer):  # any deterministic function of the answer will do for a random model
    return float(len(answer) % 3 == 0)


def test_sweep_table_agrees_with_naive_generation(model, thinking_tok):
    budgets = [0, 5, None]
    runs = sweep_generations(model, thinking_tok, PROMPTS, budgets, batch_size=3, max_new_tokens=24)
    assert isinstance(runs, SweepRuns) and list(runs.generations) == [*budgets, "non-thinking"]
    df, gens = runs.table(PROMPTS, _score), runs.generations
    assert df.drop(columns="time_s").equals(
        sweep_budget(model, thinking_tok, PROMPTS, budgets, score=_score, batch_size=3, max_new_tokens=24).drop(
            columns="time_s"
        )
    )  # sweep_budget is the table of sweep_generations, always a DataFrame
    assert list(df.columns) == COLUMNS and len(df) == 4
    assert df["budget"].dtype == pd.Int64Dtype() and df["mode"].tolist()[-1] == "non-thinking"
    for b, row in zip(budgets, df.itertuples()):
        naive = [generate(model, thinking_tok, p, budget=b, max_new_tokens=24) for p in PROMPTS]
        assert [g.token_ids for g in gens[b]] == [g.token_ids for g in naive]
        assert row.accuracy == sum(_score(None, g.answer) for g in naive) / len(PROMPTS)
        assert row.mean_thinking_tokens == sum(g.thinking_tokens for g in naive) / len(PROMPTS)
        assert b is None or row.mean_thinking_tokens <= b
        assert row.mean_total_tokens == sum(g.total_tokens for g in naive) / len(PROMPTS)
    assert df["time_s"].ge(0).all() and df.attrs["shared_s"] > 0


def test_sampled_sweep_runs_each_budget(model, thinking_tok):
    df = sweep_budget(
        model,
        thinking_tok,
        PROMPTS[:2],
        [0, 3],
        score=_score,
        max_new_tokens=12,
        do_sample=True,
        seed=1,
        non_thinking=False,
    )
    assert df["budget"].tolist() == [0, 3] and (df["mean_thinking_tokens"] <= df["budget"]).all()


@pytest.mark.parametrize(
    ("budgets", "kwargs", "error"),
    [([], {}, TypeError), ([1, 1], {}, ValueError), ([-2], {}, ValueError), ([1], {"batch_size": 0}, ValueError)],
)
def test_sweep_bad_arguments(model, thinking_tok, budgets, kwargs, error):
    with pytest.raises(error):
        sweep_budget(model, thinking_tok, PROMPTS, budgets, score=_score, **kwargs)
