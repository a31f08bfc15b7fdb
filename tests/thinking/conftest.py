"""Fixtures for the thinking tests: the toy char tokenizer in both template styles and one random model
(both tokenizers share a vocabulary, so one model serves both). One torch thread for each thinking test (set
and restored around it, so no other folder's tests inherit it): the test machine is shared, and small decode
steps run faster without thread hand-offs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from toy import STOP, char_tokenizer, random_model


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield


@pytest.fixture(scope="session")
def hybrid_tok():
    return char_tokenizer("hybrid")


@pytest.fixture(scope="session")
def thinking_tok():
    return char_tokenizer("thinking")


@pytest.fixture(scope="session")
def model(hybrid_tok):
    m = random_model(hybrid_tok)
    m.generation_config.thinking_stop_text = STOP
    return m
