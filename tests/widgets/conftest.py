"""Fixtures for the widget tests: a RoutingTrace with known routing and a real qnext model.

The trace is the shared known trace (tests/conftest.py). The model is the bundled qnext-tiny when its
checkpoint is present; otherwise an untrained model of the same architecture (a genuine
Qwen3NextForCausalLM with the tiny tokenizer): the widgets only need a model that generates, not one that
answers well.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from qnext_lab.trace.routing_trace import RoutingTrace

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "trace"))  # moe_models.py: small random MoE models


@pytest.fixture
def make_trace(known_trace_builder):
    """The shared known trace (tests/conftest.py) at other sizes."""
    return known_trace_builder


@pytest.fixture
def trace(known_trace_builder) -> RoutingTrace:
    return known_trace_builder()


@pytest.fixture(scope="session")
def model_and_tokenizer():
    from qnext_lab.tiny.paths import tiny_path

    torch.set_num_threads(1)
    try:
        tiny_path()
        import qnext_lab

        return qnext_lab.load("tiny")
    except (FileNotFoundError, ImportError, AttributeError):
        from transformers import Qwen3NextForCausalLM

        from qnext_lab.tiny.model import tiny_config
        from qnext_lab.tiny.tokenizer import build_tokenizer

        tok = build_tokenizer()
        torch.manual_seed(0)
        config = tiny_config(
            len(tok), pad_token_id=tok.pad_token_id, eos_token_id=tok.convert_tokens_to_ids("<|im_end|>")
        )
        model = Qwen3NextForCausalLM(config).eval()
        model.set_experts_implementation("qnext")
        return model, tok
