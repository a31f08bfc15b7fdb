"""offload(): a real run from a bounded per-layer expert cache. Same greedy tokens as without offload; loads per
layer equal expert_cache's misses on the same run's trace; the slots really are the weights; everything restored,
also on error; the model lock is held; bad input refused."""

from __future__ import annotations

import threading

import pytest
import torch

import qnext_lab as ql
from qnext_lab.trace.moe_layers import find_moe_layers

PROMPT = "What is 478 + 356?"


@pytest.fixture(scope="module")
def tiny():
    return ql.load("tiny")


def run(model, tok, **kw):
    return ql.generate(model, tok, PROMPT, thinking=True, max_new_tokens=24, **kw)


@pytest.fixture(scope="module")
def reference(tiny):
    return run(*tiny)


@pytest.mark.parametrize("slots,policy", [(4, "lru"), (3, "lfu")])
def test_same_tokens_and_loads_equal_the_simulated_misses(tiny, reference, slots, policy):
    model, tok = tiny
    with ql.offload(model, slots, policy) as off:
        g = run(model, tok, capture=True)
    assert g.text == reference.text and g.token_ids == reference.token_ids
    sim = ql.expert_cache(g.trace, slots, policy)
    assert off.misses == dict(zip(sim["layer"].tolist(), sim["misses"].tolist()))
    assert off.requests == dict(zip(sim["layer"].tolist(), sim["requests"].tolist()))
    assert 0 < sum(off.misses.values()) < sum(off.requests.values())
    per_expert = {m.index: sum(p[0].nbytes for p in m.experts.parameters()) for m in find_moe_layers(model)}
    assert off.bytes_moved == sum(off.misses[i] * per_expert[i] for i in off.misses)
    assert off.to_dataframe()["bytes_moved"].sum() == off.bytes_moved


def test_composes_with_another_experts_implementation(tiny, reference):
    model, tok = tiny
    model.set_experts_implementation("eager")
    try:
        with ql.offload(model, 3) as off:
            g = run(model, tok, capture=True)
    finally:
        model.set_experts_implementation("qnext")
    assert g.token_ids == reference.token_ids
    assert list(off.misses.values()) == ql.expert_cache(g.trace, 3)["misses"].tolist()


def test_the_slots_are_the_weights_and_everything_is_restored(tiny):
    model, tok = tiny
    ids = tok(PROMPT, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        plain = model(ids).logits
    layers = find_moe_layers(model)
    before = [(m.experts.gate_up_proj, m.experts.gate_up_proj.clone()) for m in layers]
    with ql.offload(model, 5) as off, torch.no_grad():
        for m in layers:
            assert m.experts.gate_up_proj.shape[0] == 5 and m.experts.down_proj.shape[0] == 5
        torch.testing.assert_close(model(ids).logits, plain)
        # a cache that loads the wrong expert gives wrong logits: the slots are what runs
        for m in layers:
            cache = m.experts.forward.__self__.cache
            cache.request = lambda e, real=cache.request: real((e + 1) % model.config.num_experts)
        wrong = model(ids).logits
    assert (wrong - plain).abs().max() > 1e-2 and off.slots == 5
    with pytest.raises(RuntimeError, match="boom"), ql.offload(model, 5):
        raise RuntimeError("boom")
    for m, (param, values) in zip(layers, before):
        assert m.experts.gate_up_proj is param and torch.equal(param, values)
        assert "forward" not in m.experts.__dict__
    with torch.no_grad():
        assert torch.equal(model(ids).logits, plain)


def test_holds_the_model_lock(tiny):
    model, _ = tiny
    result = []
    with ql.offload(model, 4):
        t = threading.Thread(target=lambda: result.append(_try_hold(model)))
        t.start()
        t.join()
    assert result == ["busy"]


def _try_hold(model):
    try:
        with ql.trace.hold(model, timeout=0.05):
            return "free"
    except ql.ModelBusyError:
        return "busy"


def test_bad_input(tiny):
    model, _ = tiny
    with pytest.raises(ValueError, match="simulate them with expert_cache"):
        with ql.offload(model, 4, "belady"):
            pass
    with pytest.raises(ValueError, match="policy"):
        with ql.offload(model, 4, "fifo"):
            pass
    for slots, error in [(0, ValueError), (33, ValueError), (2.0, TypeError), (True, TypeError)]:
        with pytest.raises(error, match="slots"):
            with ql.offload(model, slots):
                pass
    with pytest.raises(TypeError, match="nn.Module"):
        with ql.offload("tiny", 4):
            pass
    with ql.offload(model, 4):
        with pytest.raises(ValueError, match="do not nest"):
            with ql.offload(model, 4):
                pass
