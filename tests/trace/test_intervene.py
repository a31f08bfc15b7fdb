"""intervene(): ablated experts never chosen, forced always chosen, top-k changed, model restored, nesting
refused every time, numpy / torch integers accepted. (Threads: tests/trace/test_threads.py.)"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from moe_models import make_model

import qnext_lab
from qnext_lab.trace.interventions import intervene

IDS = torch.tensor([[0, 0, 5, 6, 7, 8, 9, 10], [3, 4, 5, 6, 7, 9, 11, 12]])
MASK = (IDS != 0).long()


def logits_of(model):
    with torch.no_grad():
        return model(input_ids=IDS, attention_mask=MASK).logits


@pytest.mark.parametrize("family", ["qwen3_moe", "mixtral", "olmoe", "deepseek_v3", "gpt_oss"])
def test_identity_intervention_reproduces_the_router(family):
    # re-choosing the top-k with nothing ablated or forced must give the model's own output
    model = make_model(family)
    before = logits_of(model)
    with intervene(model):
        same = logits_of(model)
    torch.testing.assert_close(same, before, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "family, implementation", [("qwen3_next", "eager"), ("deepseek_v3", "eager"), ("qwen3_moe", "qnext")]
)
def test_ablate_force_and_restore(family, implementation):
    model = make_model(family, implementation=implementation)
    before = logits_of(model)
    with torch.no_grad(), qnext_lab.capture(model) as plain:
        model(input_ids=IDS, attention_mask=MASK)
    top = int(torch.bincount(plain.topk_ids[0].reshape(-1).long()).argmax())  # busiest expert of layer 0
    rare = int(torch.bincount(plain.topk_ids[1].reshape(-1).long(), minlength=8).argmin())
    with intervene(model, ablate={0: [top]}, force={1: [rare]}):
        with torch.no_grad(), qnext_lab.capture(model) as trace:
            changed = model(input_ids=IDS, attention_mask=MASK).logits
    assert not bool((trace.topk_ids[0] == top).any())  # ablated: never chosen
    assert bool((trace.topk_ids[1] == rare).any(-1).all())  # forced: chosen for every token
    assert not torch.allclose(changed, before)
    torch.testing.assert_close(logits_of(model), before, atol=0, rtol=0)  # restored exactly
    assert sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules()) == 0


def test_top_k_changes_width_and_weights_renormalise():
    model = make_model("qwen3_next")  # norm_topk_prob=True: weights of the new top-3 sum to 1
    with intervene(model, top_k=3), torch.no_grad(), qnext_lab.capture(model, probs=True) as trace:
        model(input_ids=IDS, attention_mask=MASK)
    assert trace.top_k == 3 and trace.topk_ids.shape[-1] == 3
    torch.testing.assert_close(trace.topk_weights.sum(-1), torch.ones(4, 14))
    # the weights are the router's probabilities of the chosen experts, renormalised
    chosen = trace.probs.gather(-1, trace.topk_ids.long())
    torch.testing.assert_close(trace.topk_weights, chosen / chosen.sum(-1, keepdim=True))
    assert torch.equal(trace.topk_ids.long(), trace.probs.topk(3, dim=-1).indices)


def test_generate_under_intervention_then_restored():
    model = make_model("qwen3_moe")
    kw = dict(input_ids=IDS[1:], max_new_tokens=5, do_sample=False, eos_token_id=None)
    with torch.no_grad():
        plain = model.generate(**kw)
        with intervene(model, ablate={0: list(range(6)), 1: list(range(6))}):  # leaves experts 6, 7 = top-2
            with qnext_lab.capture(model) as trace:
                model.generate(**kw)
        again = model.generate(**kw)
    assert set(trace.topk_ids.unique().tolist()) == {6, 7}
    assert torch.equal(plain, again)


def test_bad_requests_are_refused():
    model = make_model("qwen3_moe")  # 2 MoE layers, 8 experts, top-2
    with pytest.raises(ValueError, match="every expert"):
        intervene(model, ablate={0: range(8)})
    with pytest.raises(ValueError, match="fewer than top_k"):
        intervene(model, ablate={0: range(7)})
    with pytest.raises(ValueError, match="out of range"):
        intervene(model, ablate={0: [8]})
    with pytest.raises(ValueError, match="not an MoE layer"):
        intervene(model, force={5: [0]})
    with pytest.raises(ValueError, match="impossible"):
        intervene(model, top_k=9)
    with pytest.raises(ValueError, match="impossible"):
        intervene(model, top_k=0)
    with pytest.raises(ValueError, match="do not fit"):
        intervene(model, force={0: [0, 1, 2]})
    with pytest.raises(ValueError, match="both ablated and forced"):
        intervene(model, ablate={0: [1]}, force={0: [1]})
    with pytest.raises(TypeError):
        intervene(model, ablate=[0, 1])
    with pytest.raises(TypeError):
        intervene(model, top_k=2.5)
    with intervene(model, ablate={0: [1]}):
        with pytest.raises(RuntimeError, match="nested"):
            with intervene(model, ablate={1: [1]}):
                pass
    with pytest.raises(KeyboardInterrupt):
        with intervene(model, ablate={0: [1]}):
            raise KeyboardInterrupt
    assert sum(len(m._forward_hooks) for m in model.modules()) == 0


def test_refused_nesting_stays_refused_and_hooks_never_stack():
    # a refused nested block used to clear the outer block's marks, so the next nesting was accepted
    model = make_model("qwen3_moe")  # 2 MoE layers
    routers = lambda: sum(len(m._forward_hooks) for m in model.modules())  # noqa: E731
    before = logits_of(model)
    with intervene(model, ablate={0: [1]}):
        inside = logits_of(model)
        for attempt in range(3):
            with pytest.raises(RuntimeError, match="nested"):
                with intervene(model, ablate={1: [attempt]}):
                    pass
            assert routers() == 2  # still exactly the outer block's two hooks
        torch.testing.assert_close(logits_of(model), inside, atol=0, rtol=0)  # outer change still applied
    assert routers() == 0
    torch.testing.assert_close(logits_of(model), before, atol=0, rtol=0)
    with intervene(model, ablate={1: [2]}):  # free again once the outer block has ended
        assert routers() == 2


def test_numpy_and_torch_integers_are_expert_ids():
    model = make_model("qwen3_moe")
    with intervene(model, ablate={0: [1, 2], 1: 3}, top_k=3):
        expected = logits_of(model)
    change = intervene(
        model, ablate={np.int64(0): np.array([1, 2]), torch.tensor(1): torch.tensor(3)}, top_k=np.int32(3)
    )
    assert change.ablate == {0: [1, 2], 1: [3]} and change.top_k == 3
    with change:
        torch.testing.assert_close(logits_of(model), expected, atol=0, rtol=0)
    for bad in ({0: [0.5]}, {0: "1"}, {True: [1]}, {0: [True]}, {0.0: [1]}, {0: np.float64(1.0)}):
        with pytest.raises(TypeError, match="integer"):
            intervene(model, ablate=bad)
    with pytest.raises(TypeError, match="top_k"):
        intervene(model, top_k=np.float32(2))
