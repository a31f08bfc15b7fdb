"""Fixtures for the formats tests: the bundled model (loaded once per module: 8 MB, read-only use)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "trace"))  # moe_models: small random MoE models

import qnext_lab as ql


@pytest.fixture(scope="module")
def tiny():
    model, tok = ql.load("tiny")
    return model, tok


@pytest.fixture(scope="module")
def prompt_ids(tiny):
    _, tok = tiny
    text = tok.apply_chat_template(
        [{"role": "user", "content": "What is 478 + 356?"}], tokenize=False, add_generation_prompt=True
    )
    return tok(text, return_tensors="pt").input_ids
