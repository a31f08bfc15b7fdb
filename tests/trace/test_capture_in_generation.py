"""capture() during generation with Qwen3's real tokenizer (a random Qwen3-MoE): each row of a batch records
its own tokens only; padding fed to a row that ended is not tokens and is never recorded."""

from __future__ import annotations

import pytest
from qwen3 import qwen3_moe, qwen3_tokenizer, scripted

from qnext_lab.thinking.generation import generate_batch


@pytest.fixture(scope="module")
def tok():
    return qwen3_tokenizer()


@pytest.fixture(scope="module")
def model(tok):
    return qwen3_moe(tok)


def enc(tok, text):
    return tok.encode(text, add_special_tokens=False)


def test_batched_capture_does_not_record_padding_after_a_row_ends(model, tok):
    gens = generate_batch(model, tok, ["hi", "a longer question here"], max_new_tokens=6, capture=True)
    for g in gens:  # each row's trace holds its own tokens only, at their positions
        ids = g.prompt_ids + g.token_ids
        assert g.trace.token_ids.tolist() == ids[: g.trace.num_tokens]
        assert g.trace.num_tokens == len(ids) - 1


def test_finished_rows_stop_being_recorded(model, tok):
    short = enc(tok, "ok<|im_end|>")
    # row 0 ends after 2 tokens; row 1 is cut at 8: the hook forces the same token in both rows, so only
    # row 0 can end; after that the batch keeps feeding row 0 padding, which must not appear in its trace
    with scripted(model, [short]):
        gens = generate_batch(model, tok, ["hi", "hello"], max_new_tokens=8, thinking=False, capture=True)
    assert gens[0].token_ids == short and gens[0].trace.num_tokens == len(gens[0].prompt_ids) + 1
