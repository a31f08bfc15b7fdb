"""On the bundled qnext-tiny (skipped until its checkpoint exists): capture while generating, load balance,
and router saturation of an intermediate training checkpoint against the final model on the same inputs."""

from __future__ import annotations

import pytest
import torch

import qnext_lab
from qnext_lab.analysis import load_balance, router_saturation
from qnext_lab.tiny.paths import tiny_path

pytestmark = pytest.mark.skipif(
    not (tiny_path(check=False) / "config.json").is_file(), reason="bundled qnext-tiny checkpoint not trained yet"
)


def load(path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(tiny_path())


def routing(model, ids):
    with torch.no_grad(), qnext_lab.capture(model) as trace:
        model(input_ids=ids)
    return trace


def test_capture_and_saturation_on_the_bundled_model():
    model, tok = load(tiny_path())
    text = tok.apply_chat_template(
        [{"role": "user", "content": "What is 12 + 34?"}], tokenize=False, add_generation_prompt=True
    )
    ids = tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad(), qnext_lab.capture(model) as trace:
        out = model.generate(input_ids=ids, max_new_tokens=8, do_sample=False)
    assert len(trace) == out.shape[1] - 1  # every token but the last sampled one
    assert trace.layer_indices == list(range(model.config.num_hidden_layers))
    assert load_balance(trace)["effective_experts"].between(1, model.config.num_experts).all()
    final = routing(model, ids)
    assert (router_saturation(final, final)["saturation"] == 1.0).all()
    steps = sorted((tiny_path() / "checkpoints").glob("step-*"), key=lambda p: int(p.name.split("-")[-1]))
    if steps:
        early, _ = load(steps[0])
        saturation = router_saturation(routing(early, ids), final)["saturation"]
        assert saturation.between(0, 1).all()
