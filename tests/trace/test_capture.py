"""capture(): padding dropped, generate == forward, several families, probs, hooks always removed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from moe_models import make_model

import qnext_lab
from qnext_lab.trace.moe_layers import find_moe_layers

# two rows, the first left-padded with pad id 0
IDS = torch.tensor([[0, 0, 5, 6, 7, 8], [3, 4, 5, 6, 7, 9]])
MASK = (IDS != 0).long()


def hooks_left(model: torch.nn.Module) -> int:
    return sum(len(m._forward_pre_hooks) + len(m._forward_hooks) for m in model.modules())


def reference_routing(model, ids, mask):
    """Router outputs seen by an independent hook, padding rows dropped: {layer: (ids, weights, logits)}."""
    seen, handles = {}, []
    for layer in find_moe_layers(model):

        def hook(mod, args, out, index=layer.index):
            seen[index] = out

        handles.append(layer.router.register_forward_hook(hook))
    with torch.no_grad():
        model(input_ids=ids, attention_mask=mask)
    for h in handles:
        h.remove()
    keep = mask.reshape(-1).bool()
    return {i: (idx[keep], w[keep].float(), logits[keep].float()) for i, (logits, w, idx) in seen.items()}


def sorted_by_weight(ids, weights):
    w, order = weights.sort(dim=-1, descending=True, stable=True)
    return ids.gather(-1, order), w


@pytest.mark.parametrize("implementation", ["eager", "qnext"])
def test_forward_with_padding_matches_router(implementation):
    model = make_model("qwen3_next", implementation=implementation)
    ref = reference_routing(model, IDS, MASK)
    with torch.no_grad(), qnext_lab.capture(model, probs=True) as trace:
        model(input_ids=IDS, attention_mask=MASK)
    assert hooks_left(model) == 0
    # 4 + 6 real tokens, row-major, padding gone
    assert trace.token_ids.tolist() == [5, 6, 7, 8, 3, 4, 5, 6, 7, 9]
    assert trace.seq_index.tolist() == [0] * 4 + [1] * 6
    assert trace.position.tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 4, 5]
    assert trace.layer_indices == [0, 1, 2, 3] and trace.num_experts == 8 and trace.top_k == 2
    for pos, layer in enumerate(trace.layer_indices):
        ids, w, logits = ref[layer]
        ids, w = sorted_by_weight(ids, w)
        assert torch.equal(trace.topk_ids[pos], ids.int())
        torch.testing.assert_close(trace.topk_weights[pos], w)
        torch.testing.assert_close(trace.probs[pos], torch.softmax(logits, -1))
    # rank order: weights descending, and the top-1 expert is the argmax of the probabilities
    assert bool((trace.topk_weights[..., 0] >= trace.topk_weights[..., 1]).all())
    assert torch.equal(trace.topk_ids[..., 0].long(), trace.probs.argmax(-1))


def test_generate_records_prefill_and_every_decode_step():
    model = make_model("qwen3_next")
    with torch.no_grad(), qnext_lab.capture(model) as trace:
        out = model.generate(input_ids=IDS, attention_mask=MASK, max_new_tokens=4, do_sample=False, eos_token_id=None)
    # prefill (4 + 6 tokens) + 3 decode steps of 2 rows; the last sampled token is never fed back
    assert len(trace) == 10 + 3 * 2
    full = out[:, :-1]
    full_mask = torch.cat([MASK, torch.ones(2, 3, dtype=torch.long)], 1)
    with torch.no_grad(), qnext_lab.capture(model) as whole:
        model(input_ids=full, attention_mask=full_mask)
    # same tokens, same (seq, position) labels, same routing as one forward over the whole text
    key = lambda t: (t.seq_index.long() * 100 + t.position.long()).argsort()  # noqa: E731
    a, b = key(trace), key(whole)
    assert torch.equal(trace.token_ids[a], whole.token_ids[b])
    assert torch.equal(trace.position[a], whole.position[b])
    assert trace.position[trace.seq_index == 0].tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert torch.equal(trace.topk_ids[:, a], whole.topk_ids[:, b])
    torch.testing.assert_close(trace.topk_weights[:, a], whole.topk_weights[:, b], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(
    "family, kind",
    [
        ("qwen3_moe", "softmax"),
        ("mixtral", "softmax"),
        ("olmoe", "softmax"),
        ("deepseek_v3", "sigmoid"),
        ("gpt_oss", "softmax"),
    ],
)
def test_families(family, kind):
    model = make_model(family)
    ref = reference_routing(model, IDS, MASK)
    with torch.no_grad(), qnext_lab.capture(model, probs=True) as trace:
        model(input_ids=IDS, attention_mask=MASK)
    assert len(trace) == 10 and hooks_left(model) == 0
    for pos, layer in enumerate(trace.layer_indices):
        ids, w, logits = ref[layer]
        ids, w = sorted_by_weight(ids, w)
        assert torch.equal(trace.topk_ids[pos], ids.int())
        torch.testing.assert_close(trace.topk_weights[pos], w)
        expected = torch.sigmoid(logits) if kind == "sigmoid" else torch.softmax(logits, -1)
        torch.testing.assert_close(trace.probs[pos], expected)


def test_reused_capture_returns_a_new_trace_each_time():
    model = make_model("qwen3_moe")
    cap = qnext_lab.capture(model)
    with torch.no_grad(), cap as first:
        model(torch.tensor([[4, 5, 6]]))
    with torch.no_grad(), cap as second:
        model(torch.tensor([[7, 8]]))
    assert second is not first
    assert first.token_ids.tolist() == [4, 5, 6] and second.token_ids.tolist() == [7, 8]
    assert cap.trace is second
    with cap:
        with pytest.raises(RuntimeError, match="already active"):
            with cap:
                pass
    assert hooks_left(model) == 0


@pytest.mark.parametrize(
    "layers, error, match",
    [
        ([0.7], TypeError, "integer"),
        ([True], TypeError, "bool"),
        ("03", TypeError, "string"),
        ([], ValueError, "selects no layer"),
        ([1, 5], ValueError, r"\[5\] are not MoE layers"),
        (1.0, TypeError, "integer"),
        ({"a": 1}, TypeError, "integer"),
        (object(), TypeError, "list of integers"),
    ],
)
def test_bad_layers_are_refused(layers, error, match):
    with pytest.raises(error, match=match):
        qnext_lab.capture(make_model("qwen3_moe"), layers=layers)


def test_numpy_and_torch_layer_indices():
    model = make_model("qwen3_moe")
    for layers in (np.int64(1), [np.int64(1)], torch.tensor([1]), np.array([1, 1]), 1):
        with torch.no_grad(), qnext_lab.capture(model, layers=layers) as trace:
            model(torch.tensor([[4, 5]]))
        assert trace.layer_indices == [1] and len(trace) == 2


def test_unbatched_call_without_mask_and_layer_subset():
    model = make_model("qwen3_moe")
    with torch.no_grad(), qnext_lab.capture(model, layers=[1]) as trace:
        model(torch.tensor([[4, 5, 6]]))
        model(torch.tensor([[7, 8]]))
    assert trace.layer_indices == [1]
    assert trace.seq_index.tolist() == [0, 0, 0, 1, 1]  # two forwards without a cache: two sequences
    assert trace.position.tolist() == [0, 1, 2, 0, 1]
    with pytest.raises(ValueError, match="not MoE layers"):
        qnext_lab.capture(model, layers=[5])


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_hooks_removed_on_error(error):
    model = make_model("qwen3_moe")
    with pytest.raises(error):
        with torch.no_grad(), qnext_lab.capture(model, probs=True) as trace:
            model(input_ids=IDS, attention_mask=MASK)
            assert hooks_left(model) > 0
            raise error("stop")
    assert hooks_left(model) == 0
    assert len(trace) == 10  # what ran before the interruption is kept


def test_error_inside_a_layer_removes_hooks():
    model = make_model("qwen3_moe")
    with pytest.raises(IndexError):
        with qnext_lab.capture(model):
            model(input_ids=torch.tensor([[999]]))  # token id beyond the vocabulary
    assert hooks_left(model) == 0


def test_probs_refused_for_unknown_router_and_non_moe_models():
    model = make_model("qwen3_moe")
    gate = model.model.layers[0].mlp.gate

    class HomeMadeRouter(type(gate)):
        pass

    gate.__class__ = HomeMadeRouter
    with pytest.raises(ValueError, match="probabilities"):
        qnext_lab.capture(model, probs=True)
    with torch.no_grad(), qnext_lab.capture(model) as trace:  # top-k capture still works
        model(torch.tensor([[4, 5]]))
    assert len(trace) == 2
    gate.qnext_lab_probs_kind = "softmax"  # the router declares how its logits become probabilities
    ref = reference_routing(model, IDS, MASK)
    with torch.no_grad(), qnext_lab.capture(model, probs=True) as declared:
        model(input_ids=IDS, attention_mask=MASK)
    assert declared.probs is not None and declared.probs.shape == (2, 10, 8)
    torch.testing.assert_close(declared.probs[0], torch.softmax(ref[0][2], -1))
    with pytest.raises(ValueError, match="no transformers v5 experts module"):
        qnext_lab.capture(torch.nn.Linear(2, 2))
    with pytest.raises(TypeError):
        qnext_lab.capture(model, probs="yes")


def test_a_forward_given_embeddings_is_recorded_like_one_given_ids():
    """inputs_embeds has no token ids: routing, sequences and positions as with input_ids, token ids 0."""
    model = make_model("qwen3_moe")
    with torch.no_grad(), qnext_lab.capture(model) as by_ids:
        model(input_ids=IDS, attention_mask=MASK)
    with torch.no_grad(), qnext_lab.capture(model) as by_embeds:
        model(inputs_embeds=model.get_input_embeddings()(IDS), attention_mask=MASK)
    assert torch.equal(by_embeds.topk_ids, by_ids.topk_ids)
    assert torch.equal(by_embeds.seq_index, by_ids.seq_index) and torch.equal(by_embeds.position, by_ids.position)
    assert by_embeds.token_ids.tolist() == [0] * len(by_ids)
