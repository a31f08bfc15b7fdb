"""Importers of serving-engine routing: vLLM's int16 (tokens, moe_layers, top_k) arrays and SGLang's base64 int32
payload, in the layouts the engines document (unfilled slots -1, or 255 in SGLang PR #9499's layout)."""

from __future__ import annotations

import base64
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import qnext_lab
from qnext_lab import routing_from_sglang, routing_from_vllm
from qnext_lab.analysis import expert_load

E, K, L = 512, 10, 3


class ToyTokenizer:
    def decode(self, ids, skip_special_tokens=False):
        return "".join(f"<{i}>" for i in ids)


def _ids(rng, n, layers=L, k=K, experts=E, dtype=np.int16):
    return np.stack(
        [np.stack([rng.choice(experts, k, replace=False) for _ in range(layers)]) for _ in range(n)]
    ).astype(dtype)  # (n, layers, k)


def _vllm_output(prompt, gen, prompt_ids, gen_ids):
    return SimpleNamespace(
        prompt_token_ids=prompt_ids,
        prompt_routed_experts=prompt,
        outputs=[SimpleNamespace(token_ids=gen_ids, routed_experts=gen)],
    )


def test_vllm_prompt_and_generated_rows_make_one_sequence():
    rng = np.random.default_rng(0)
    prompt, gen = _ids(rng, 6), _ids(rng, 4)
    gen[-1] = -1  # the last sampled token was never fed back: an unfilled row
    out = _vllm_output(prompt, gen, list(range(100, 106)), [200, 201, 202, 203])
    trace = routing_from_vllm(out, ToyTokenizer(), num_experts=E, layer_indices=[3, 7, 11], model_name="m")
    assert (trace.num_layers, len(trace), trace.top_k, trace.num_experts) == (3, 9, K, E)
    assert trace.layer_indices == [3, 7, 11] and trace.model_name == "m"
    assert trace.token_ids.tolist() == [*range(100, 106), 200, 201, 202]
    assert trace.position.tolist() == list(range(9)) and trace.seq_index.tolist() == [0] * 9
    assert trace.tokens[0] == "<100>" and trace.tokens[-1] == "<202>"
    expected = np.concatenate([prompt, gen[:3]]).transpose(1, 0, 2)
    assert torch.equal(trace.topk_ids, torch.from_numpy(expected.astype(np.int32)))
    assert torch.all(trace.topk_weights == 1 / K) and trace.probs is None  # engines record no weights
    load = expert_load(trace)  # the kit's metrics read it
    assert int(load[load.layer == 7]["count"].sum()) == 9 * K


def test_vllm_bad_input():
    rng = np.random.default_rng(1)
    good = _ids(rng, 2)
    with pytest.raises(TypeError, match="RequestOutput"):
        routing_from_vllm({"routed_experts": good}, num_experts=E)
    with pytest.raises(ValueError, match="enable-return-routed-experts"):
        routing_from_vllm(_vllm_output(None, None, [1, 2], [3]), num_experts=E)
    with pytest.raises(ValueError, match=r"outside \[0, 8\)"):
        routing_from_vllm(_vllm_output(good, None, [1, 2], []), num_experts=8)
    with pytest.raises(TypeError, match="integer expert ids"):
        routing_from_vllm(_vllm_output(good.astype(float), None, [1, 2], []), num_experts=E)
    with pytest.raises(ValueError, match="shape"):
        routing_from_vllm(_vllm_output(good[0], None, [1, 2], []), num_experts=E)
    partial = good.copy()
    partial[1, 2] = -1
    with pytest.raises(ValueError, match="some layers"):
        routing_from_vllm(_vllm_output(partial, None, [1, 2], []), num_experts=E)
    with pytest.raises(ValueError, match="num_experts"):
        routing_from_vllm(_vllm_output(good, None, [1, 2], []), num_experts=0)


def test_sglang_base64_int32_with_dense_layers_and_the_last_token():
    rng = np.random.default_rng(2)
    tokens = list(range(50, 58))  # 8 prompt + output tokens; the last sampled one has no row
    routed = np.full((7, 4, K), -1, dtype=np.int32)  # (tokens, every decoder layer, k)
    routed[:, [1, 3]] = _ids(rng, 7, layers=2, dtype=np.int32)  # layers 0 and 2 are dense: never filled
    payload = base64.b64encode(routed.tobytes()).decode()
    trace = routing_from_sglang(payload, tokens, ToyTokenizer(), num_experts=E, top_k=K, num_layers=4)
    assert trace.layer_indices == [1, 3] and len(trace) == 7 and trace.token_ids.tolist() == tokens[:7]
    assert torch.equal(trace.topk_ids, torch.from_numpy(routed[:, [1, 3]].transpose(1, 0, 2).copy()))
    same = routing_from_sglang(routed, tokens, num_experts=E)  # the decoded array works too
    assert torch.equal(same.topk_ids, trace.topk_ids) and same.tokens is None
    by_layers = routing_from_sglang(payload.encode(), tokens, num_experts=E, num_layers=4, top_k=K)
    assert torch.equal(by_layers.topk_ids, trace.topk_ids)


def test_sglang_255_fill_of_pr_9499_for_small_expert_counts():
    rng = np.random.default_rng(3)
    routed = _ids(rng, 5, layers=2, k=4, experts=64, dtype=np.int32)
    routed[4] = 255  # an unfilled row in the earlier layout
    trace = routing_from_sglang(routed, [1, 2, 3, 4, 5], num_experts=64)
    assert len(trace) == 4
    # with more than 255 experts, 255 is a real expert id and is kept
    routed[4] = np.arange(255, 259)
    assert len(routing_from_sglang(routed, [1, 2, 3, 4, 5], num_experts=512)) == 5


def test_sglang_bad_input():
    ok = np.zeros((3, 2, 2), dtype=np.int32)
    with pytest.raises(ValueError, match="base64"):
        routing_from_sglang("not base64!", [1, 2, 3], num_experts=8, top_k=2)
    with pytest.raises(ValueError, match="whole number of int32"):
        routing_from_sglang(base64.b64encode(b"abc"), [1, 2, 3], num_experts=8, top_k=2, num_layers=2)
    with pytest.raises(ValueError, match="both top_k and num_layers"):
        routing_from_sglang(base64.b64encode(ok.tobytes()), [1, 2, 3], num_experts=8, top_k=2)
    with pytest.raises(ValueError, match="not 3 or 2 tokens"):
        routing_from_sglang(base64.b64encode(ok.tobytes()[:-4]), [1, 2, 3], num_experts=8, top_k=2, num_layers=2)
    with pytest.raises(TypeError, match="int32"):
        routing_from_sglang(ok.astype(np.int64), [1, 2, 3], num_experts=8)
    with pytest.raises(ValueError, match="rows for 9 token ids"):
        routing_from_sglang(ok, list(range(9)), num_experts=8)


def test_importers_are_public():
    assert {"routing_from_vllm", "routing_from_sglang"} <= set(qnext_lab.__all__)
