"""ThinkingBudgetProcessor used on its own with model.generate: exact per-row accounting, forced text
once, both template styles, batches of different lengths, min_thinking, bad input."""

from __future__ import annotations

import pytest
import torch
from scripted import Ban, Prefer, Script
from toy import STOP
from transformers import LogitsProcessorList

from qnext_lab.thinking.budget import ThinkingBudgetProcessor
from qnext_lab.thinking.phases import THINKING, label_tokens
from qnext_lab.thinking.template import render_prompt, stop_token_ids, think_tokens

PROMPTS = ["hi", "What is 478 + 356?", "How many r in strawberry? Think it through."]


def _generate(model, tok, procs, prompts=PROMPTS, max_new_tokens=40, seed=0):
    texts = [render_prompt(tok, p, thinking=True) for p in prompts]
    batch = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)  # left padding
    torch.manual_seed(seed)
    out = model.generate(
        **batch,
        logits_processor=LogitsProcessorList(procs),
        max_new_tokens=max_new_tokens,
        do_sample=True,
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        pad_token_id=tok.pad_token_id,
    )
    return [row[batch.input_ids.shape[1] :].tolist() for row in out]


def _count_thinking(row, tt, stop_ids, state):
    """Thinking tokens among all but the last token of a row (the stop text, if present, is forced)."""
    row, forced = row[:-1], [False] * (len(row) - 1)
    for i in range(len(row) - len(stop_ids) + 1):
        if row[i : i + len(stop_ids)] == stop_ids:
            forced[i : i + len(stop_ids)] = [True] * len(stop_ids)
            break
    return label_tokens(row, tt, state, forced)[1].thinking_tokens


def _occurrences(row, ids):
    return sum(row[i : i + len(ids)] == ids for i in range(len(row) - len(ids) + 1))


@pytest.mark.parametrize("budgets", [[0, 0, 0], [1, 5, 17], [3, None, 9]])
def test_rows_stop_at_their_own_budget_with_the_stop_text_once(model, thinking_tok, budgets):
    tt = think_tokens(thinking_tok, model)
    stop_ids = stop_token_ids(thinking_tok, STOP, tt)
    # the random model may not close the block on its own: ban </think> and eos so budgets are reached
    proc = ThinkingBudgetProcessor(thinking_tok, budgets, model=model)
    rows = _generate(model, thinking_tok, [Ban([tt.start_id, tt.end_id, *tt.eos_ids]), proc])
    for row, budget, counted in zip(rows, budgets, proc.thinking_tokens):
        if budget is None:
            assert _occurrences(row, stop_ids) == 0 and tt.end_id not in row
            assert counted == len(row) - 1  # generate never shows a processor its last token
            continue
        assert counted == budget
        assert _occurrences(row, stop_ids) == 1
        assert row[budget : budget + len(stop_ids)] == stop_ids  # exactly `budget` thinking tokens first
        assert row.count(tt.end_id) == 1
    assert proc.budget_hit == [b is not None for b in budgets]


def test_no_row_exceeds_its_budget_when_the_model_thinks_freely(model, thinking_tok):
    tt = think_tokens(thinking_tok, model)
    stop_ids = stop_token_ids(thinking_tok, STOP, tt)
    for seed in range(3):
        proc = ThinkingBudgetProcessor(thinking_tok, 6, model=model)
        rows = _generate(model, thinking_tok, [proc], seed=seed)
        for r, (row, counted) in enumerate(zip(rows, proc.thinking_tokens)):
            assert counted <= 6
            assert _occurrences(row, stop_ids) <= 1 + row.count(tt.start_id)  # once per (re)opened block
            forced = proc.forced_mask(r, len(row))[:-1]
            assert label_tokens(row[:-1], tt, THINKING, forced)[1].thinking_tokens == counted


def test_hybrid_template_counts_after_the_model_opens_think(model, hybrid_tok):
    tt = think_tokens(hybrid_tok, model)
    stop_ids = stop_token_ids(hybrid_tok, STOP, tt)
    proc = ThinkingBudgetProcessor(hybrid_tok, 0, model=model)  # budget 0: close at once
    rows = _generate(model, hybrid_tok, [Script([tt.start_id]), proc], max_new_tokens=20)
    for row in rows:
        assert row[: 1 + len(stop_ids)] == [tt.start_id, *stop_ids]
    assert proc.thinking_tokens == [0, 0, 0]


def test_hybrid_row_that_answers_without_thinking_is_left_alone(model, hybrid_tok):
    tt = think_tokens(hybrid_tok, model)
    proc = ThinkingBudgetProcessor(hybrid_tok, 0, model=model)
    rows = _generate(model, hybrid_tok, [Ban([tt.start_id]), proc], max_new_tokens=15)
    assert all(tt.end_id not in row[:1] for row in rows)
    assert proc.budget_hit == [False, False, False]


def test_min_thinking_forces_wait_instead_of_stopping(model, thinking_tok):
    tt = think_tokens(thinking_tok, model)
    wait = thinking_tok.encode("Wait", add_special_tokens=False)
    proc = ThinkingBudgetProcessor(thinking_tok, None, model=model, min_thinking=10)
    rows = _generate(model, thinking_tok, [Prefer(tt.end_id), proc], prompts=PROMPTS[:2], max_new_tokens=20)
    for row in rows:
        # the model wants to stop at once; "Wait" is forced until 10 tokens are thought, then it stops
        assert row[:12] == wait * 3 and row[12] == tt.end_id
    assert proc.thinking_tokens == [12, 12]


def test_budget_wins_over_min_thinking(model, thinking_tok):
    tt = think_tokens(thinking_tok, model)
    stop_ids = stop_token_ids(thinking_tok, STOP, tt)
    proc = ThinkingBudgetProcessor(thinking_tok, 6, model=model, min_thinking=6)
    rows = _generate(model, thinking_tok, [Prefer(tt.end_id), proc], prompts=PROMPTS[:1], max_new_tokens=20)
    wait = thinking_tok.encode("Wait", add_special_tokens=False)
    assert rows[0][:6] == wait + wait[:2] and rows[0][6 : 6 + len(stop_ids)] == stop_ids
    assert proc.thinking_tokens == [6]


def test_one_processor_serves_consecutive_generate_calls(model, thinking_tok):
    proc = ThinkingBudgetProcessor(thinking_tok, 4, model=model)
    first = _generate(model, thinking_tok, [proc], seed=1)
    again = _generate(model, thinking_tok, [proc], seed=1)
    fresh = _generate(model, thinking_tok, [ThinkingBudgetProcessor(thinking_tok, 4, model=model)], seed=1)
    assert first == again == fresh


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"budget": -1}, ValueError),
        ({"budget": 2.5}, TypeError),
        ({"budget": True}, TypeError),
        ({"budget": 4, "min_thinking": 8}, ValueError),
        ({"budget": None, "min_thinking": -3}, ValueError),
        ({"budget": 4, "wait_text": ""}, ValueError),
    ],
)
def test_bad_arguments(thinking_tok, kwargs, error):
    with pytest.raises(error):
        ThinkingBudgetProcessor(thinking_tok, **kwargs)


def test_budget_list_must_match_the_batch(model, thinking_tok):
    proc = ThinkingBudgetProcessor(thinking_tok, [1, 2], model=model)
    with pytest.raises(ValueError, match="2 budgets were given for a batch of 3"):
        _generate(model, thinking_tok, [proc])
