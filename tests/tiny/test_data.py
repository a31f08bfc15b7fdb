"""Training examples: loss only on the assistant turn, the empty think block and forced stop text masked."""

from __future__ import annotations

import random

import pytest

from qnext_lab.tiny.data import IGNORE, encode_example, make_batch, render_example
from qnext_lab.tiny.paths import STOP_TEXT
from qnext_lab.tiny.tasks import make_problems
from qnext_lab.tiny.tokenizer import build_tokenizer


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer()


def _in_loss(tok, ids, labels):
    return tok.decode([i for i, lab in zip(ids, labels) if lab != IGNORE])


def test_three_forms_mask_what_the_model_must_not_learn(tok):
    p = make_problems(1, seed=0, families=["add"])[0]
    rng = random.Random(5)
    seen = set()
    for _ in range(60):
        prompt, mode, pieces = render_example(p, rng.choice(["think", "nothink", "cut"]), rng)
        ids, labels = encode_example(tok, prompt, pieces)
        trained = _in_loss(tok, ids, labels)
        assert "user" not in trained and trained.endswith(p.answer + "<|im_end|>")
        if mode == "nothink":
            assert prompt.endswith("<think>\n\n</think>\n\n") and trained == p.answer + "<|im_end|>"
        elif mode == "think":
            assert trained == f"<think>\n{p.thinking}\n</think>\n\n{p.answer}<|im_end|>"
        else:
            assert STOP_TEXT.strip() not in trained and "Time is up" in tok.decode(ids)
        seen.add(mode)
    assert seen == {"think", "nothink", "cut"}


def test_batch_is_right_padded_and_seeded(tok):
    x1, y1 = make_batch(tok, random.Random(0), 8, level=0.5)
    x2, y2 = make_batch(tok, random.Random(0), 8, level=0.5)
    assert x1.equal(x2) and y1.equal(y2) and x1.shape == y1.shape
    assert (y1[x1 == tok.pad_token_id] == IGNORE).all()
    with pytest.raises(ValueError):
        make_batch(tok, random.Random(0), 0)
