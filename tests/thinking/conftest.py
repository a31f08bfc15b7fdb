"""Fixtures for the thinking tests: the toy char tokenizer in both template styles and one random model
(both tokenizers share a vocabulary, so one model serves both). One torch thread: the test machine is
shared, and small decode steps run faster without thread hand-offs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

from toy import char_tokenizer, random_model

STOP = "\nstop\n</think>\n"  # short, so forced text costs few decode steps


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


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
