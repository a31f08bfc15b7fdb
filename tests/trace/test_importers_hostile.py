"""Serving-engine routing arrays of the wrong shape, type or content: each is refused with a message saying
what is wrong, never silently shifted, truncated or reshaped into wrong layers; SGLang's decoded bytes and
physical expert slots (after expert-parallel load balancing) are read as documented."""

from __future__ import annotations

import base64
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from qnext_lab import routing_from_sglang, routing_from_vllm

E, K, L = 16, 4, 2


def _ids(rng, n, layers=L, k=K, experts=E, dtype=np.int16):
    return np.stack(
        [np.stack([rng.choice(experts, k, replace=False) for _ in range(layers)]) for _ in range(n)]
    ).astype(dtype)


def _vllm(prompt, gen, prompt_ids, gen_ids):
    return SimpleNamespace(
        prompt_token_ids=prompt_ids,
        prompt_routed_experts=prompt,
        outputs=[SimpleNamespace(token_ids=gen_ids, routed_experts=gen)],
    )


def test_vllm_row_counts_must_match_the_tokens():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="8 rows for 10 prompt tokens"):  # used to shift every generated token
        routing_from_vllm(_vllm(_ids(rng, 8), None, list(range(10)), []), num_experts=E)
    with pytest.raises(ValueError, match="2 rows for 6 generated tokens"):  # used to drop 4 tokens
        routing_from_vllm(_vllm(None, _ids(rng, 2), [], list(range(6))), num_experts=E)
    ok = routing_from_vllm(_vllm(_ids(rng, 3), _ids(rng, 5), [1, 2, 3], list(range(6))), num_experts=E)
    assert len(ok) == 8  # only the last sampled token lacks a row


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        (dict(layer_indices=[0.0, 1.5]), TypeError, r"layer_indices\[0\] must be an integer"),
        (dict(layer_indices=[0, -1]), ValueError, "layer_indices"),
        (dict(num_experts=True), TypeError, "num_experts"),
        (dict(num_experts=10**6), ValueError, "num_experts"),
        (dict(completion=0.0), TypeError, "completion"),
    ],
)
def test_vllm_argument_types(kwargs, error, words):
    rng = np.random.default_rng(1)
    out = _vllm(_ids(rng, 3), None, [1, 2, 3], [])
    with pytest.raises(error, match=words):
        routing_from_vllm(out, **{"num_experts": E, **kwargs})


@pytest.mark.parametrize(
    ("token_ids", "error", "words"),
    [
        (None, TypeError, "token_ids must be a list"),
        ([1, -2, 3], ValueError, r"token_ids\[1\] must be >= 0"),
        ([1, 2.0, 3], TypeError, r"token_ids\[1\] must be an integer"),
        ("abc", TypeError, "token_ids must be a list"),
    ],
)
def test_sglang_token_ids(token_ids, error, words):
    ok = np.zeros((3, L, K), dtype=np.int32) + np.arange(K, dtype=np.int32)
    with pytest.raises(error, match=words):
        routing_from_sglang(ok, token_ids, num_experts=E)


def test_empty_and_unfilled_arrays():
    with pytest.raises(ValueError, match="no rows"):
        routing_from_sglang(np.zeros((0, L, K), np.int32), [], num_experts=E)
    with pytest.raises(ValueError, match="no layers or no top-k"):
        routing_from_sglang(np.zeros((2, L, 0), np.int32), [1, 2], num_experts=E)
    with pytest.raises(ValueError, match="every slot is unfilled"):
        routing_from_sglang(np.full((2, L, K), -1, np.int32), [1, 2], num_experts=E)
    with pytest.raises(TypeError, match="integer array"):
        routing_from_vllm(_vllm("abc", None, [1], []), num_experts=E)


def test_the_flat_payload_needs_both_shape_numbers():
    rng = np.random.default_rng(2)
    routed = _ids(rng, 5, dtype=np.int32)  # (5, 2 layers, top-4)
    payload = base64.b64encode(routed.tobytes()).decode()
    # top_k=2 for top-4 data used to give 4 "layers" silently; a guess for the other number is refused now
    with pytest.raises(ValueError, match="both top_k and num_layers"):
        routing_from_sglang(payload, list(range(5)), num_experts=E, top_k=2)
    with pytest.raises(ValueError, match="not 5 or 4 tokens x 3 layers x 4 top_k"):
        routing_from_sglang(payload, list(range(5)), num_experts=E, top_k=4, num_layers=3)
    with pytest.raises(ValueError, match="top_k=2 but the array's shape"):
        routing_from_sglang(routed, list(range(5)), num_experts=E, top_k=2)


def test_sglang_decoded_bytes_are_accepted_as_documented():
    rng = np.random.default_rng(3)
    routed = _ids(rng, 5, dtype=np.int32)
    tokens = list(range(5))
    from_text = routing_from_sglang(
        base64.b64encode(routed.tobytes()).decode(), tokens, num_experts=E, top_k=K, num_layers=L
    )
    from_b64_bytes = routing_from_sglang(
        base64.b64encode(routed.tobytes()), tokens, num_experts=E, top_k=K, num_layers=L
    )
    from_raw = routing_from_sglang(routed.tobytes(), tokens, num_experts=E, top_k=K, num_layers=L)
    for trace in (from_b64_bytes, from_raw):
        assert torch.equal(trace.topk_ids, from_text.topk_ids)


def test_physical_expert_slots_after_eplb():
    """16 logical experts on 20 physical slots (4 redundant copies); the engine reports slots."""
    rng = np.random.default_rng(4)
    logical = _ids(rng, 6, dtype=np.int32)  # (6, L, K) logical ids
    table = np.concatenate([np.arange(E), [0, 1, 2, 3]]).astype(np.int64)  # slot -> logical expert
    copies = {0: 16, 1: 17, 2: 18, 3: 19}  # a logical expert served from its redundant slot
    physical = np.vectorize(lambda e: copies.get(int(e), int(e)))(logical).astype(np.int32)
    with pytest.raises(ValueError, match="physical_to_logical"):  # slot 16+ is not a logical id: said clearly
        routing_from_sglang(physical, list(range(6)), num_experts=E)
    trace = routing_from_sglang(physical, list(range(6)), num_experts=E, physical_to_logical=table)
    assert torch.equal(trace.topk_ids, torch.from_numpy(logical.transpose(1, 0, 2).copy()))
    per_layer = np.stack([table, table])  # (layers, slots), SGLang's physical_to_logical_map shape
    again = routing_from_sglang(physical, list(range(6)), num_experts=E, physical_to_logical=per_layer)
    assert torch.equal(again.topk_ids, trace.topk_ids)
    with pytest.raises(ValueError, match="outside the map's 20 slots"):
        bad = physical.copy()
        bad[0, 0, 0] = 25
        routing_from_sglang(bad, list(range(6)), num_experts=E, physical_to_logical=table)
    with pytest.raises(ValueError, match="3 rows for 2 layers"):
        routing_from_sglang(physical, list(range(6)), num_experts=E, physical_to_logical=np.stack([table] * 3))
