"""The cost model: hand-computed figures for the real Qwen3-Next-80B-A3B config, and memory measured on real caches."""

from __future__ import annotations

import pytest
import torch
import transformers
from moe_models import make_model

from qnext_lab.analysis.cost import cache_memory, cost_table, full_attention_config, model_cost

# Qwen3-Next-80B-A3B's hyper-parameters (the Hugging Face config.json of Qwen/Qwen3-Next-80B-A3B-Instruct)
V, H, LAYERS, FULL, LINEAR = 151936, 2048, 48, 12, 36
QH, KVH, HD = 16, 2, 256
LKH, LVH, LD, CONV = 16, 32, 128, 4
E, K, I_MOE, I_SHARED = 512, 10, 512, 512


@pytest.fixture(scope="module")
def config():
    return transformers.Qwen3NextConfig(
        vocab_size=V,
        hidden_size=H,
        num_hidden_layers=LAYERS,
        num_attention_heads=QH,
        num_key_value_heads=KVH,
        head_dim=HD,
        partial_rotary_factor=0.25,
        linear_num_key_heads=LKH,
        linear_num_value_heads=LVH,
        linear_key_head_dim=LD,
        linear_value_head_dim=LD,
        linear_conv_kernel_dim=CONV,
        num_experts=E,
        num_experts_per_tok=K,
        moe_intermediate_size=I_MOE,
        shared_expert_intermediate_size=I_SHARED,
        layer_types=["full_attention" if (i + 1) % 4 == 0 else "linear_attention" for i in range(LAYERS)],
    )


# parameters by hand, from the module definitions in transformers' modeling_qwen3_next.py
EMBED = V * H
EXPERTS = LAYERS * E * 3 * H * I_MOE  # gate, up (fused) and down of every routed expert
ROUTERS = LAYERS * E * H
SHARED = LAYERS * (3 * H * I_SHARED + H)  # shared expert + its sigmoid gate
ATTN = FULL * (H * QH * HD * 2 + 2 * H * KVH * HD + QH * HD * H + 2 * HD)  # q (with output gate), k, v, o, q/k norms
KEY_DIM, VALUE_DIM = LKH * LD, LVH * LD
CONV_DIM = 2 * KEY_DIM + VALUE_DIM
DELTANET = LINEAR * (H * (2 * KEY_DIM + 2 * VALUE_DIM) + H * 2 * LVH + CONV_DIM * CONV + 2 * LVH + LD + VALUE_DIM * H)
NORMS = LAYERS * 2 * H + H
TOTAL = 2 * EMBED + EXPERTS + ROUTERS + SHARED + ATTN + DELTANET + NORMS
DENSE_BODY = ROUTERS + SHARED + ATTN + DELTANET + NORMS
ACTIVE_BODY = DENSE_BODY + EXPERTS * K / E
KV_PER_TOKEN = FULL * 2 * KVH * HD * 2  # 12 layers x (K, V) x 2 heads x 256 x 2 bytes (bf16) = 24 KiB
STATE = LINEAR * (LVH * LD * LD * 4 + CONV_DIM * CONV * 2)  # fp32 recurrent state + bf16 conv window


def test_parameters_match_the_hand_count(config):
    c = model_cost(config, context=4096)
    assert c.params_total == TOTAL == 79_674_391_296
    assert c.params_active_non_embedding == round(ACTIVE_BODY) == 3_252_599_552
    assert c.params_active == round(ACTIVE_BODY) + 2 * EMBED
    assert (c.full_attention_layers, c.linear_attention_layers) == (FULL, LINEAR)


@pytest.mark.parametrize("context", [4096, 32768, 262144])
def test_bytes_flops_and_memory_match_the_hand_count(config, context):
    c = model_cost(config, context=context)
    assert c.kv_bytes_per_token == KV_PER_TOKEN == 24_576
    assert c.state_bytes_per_sequence == STATE == 77_856_768
    assert c.kv_cache_memory == context * 24_576
    assert c.weights_memory == 2 * TOTAL
    assert c.memory == 2 * TOTAL + context * 24_576 + STATE
    # decode: each active weight read once (one embedding row), this sequence's KV cache and states
    assert c.decode_bytes_weights == 2 * (ACTIVE_BODY + EMBED + H)
    assert c.decode_bytes_kv == context * KV_PER_TOKEN
    assert c.decode_bytes_state == STATE
    attention = FULL * 4 * QH * HD * context  # QK^T and AV over `context` keys
    deltanet = LINEAR * 7 * LVH * LD * LD
    assert c.decode_flops == pytest.approx(2 * (ACTIVE_BODY + EMBED) + attention + deltanet, rel=1e-12)
    causal = FULL * 4 * QH * HD * context * (context + 1) / 2
    assert c.prefill_flops == pytest.approx(
        2 * ACTIVE_BODY * context + 2 * EMBED + causal + deltanet * context, rel=1e-12
    )


def test_batch_shares_weight_reads_and_multiplies_state(config):
    one, eight = model_cost(config, context=1024), model_cost(config, context=1024, batch=8)
    touched = 1 - (1 - K / E) ** 8  # expected share of experts 8 tokens reach under uniform routing
    assert eight.decode_bytes_weights == pytest.approx(2 * (DENSE_BODY + EMBED + EXPERTS * touched + 8 * H) / 8)
    assert eight.decode_bytes_kv == one.decode_bytes_kv  # each sequence reads its own cache
    assert eight.kv_cache_memory == 8 * one.kv_cache_memory and eight.state_memory == 8 * STATE


def test_comparisons(config):
    table = cost_table(config, contexts=[4096, 262144]).set_index(["variant", "context"])
    full = table.loc[("every layer full attention", 262144)]
    assert full.kv_bytes_per_token == 4 * KV_PER_TOKEN and full.state_bytes_per_sequence == 0
    assert full.decode_time_ratio > 2 and full.memory_ratio > 1.1  # 256K: 24 GiB of KV instead of 6 GiB
    dense_total = table.loc[("dense, same total size", 4096)]
    assert dense_total.params_total == TOTAL and dense_total.params_active == TOTAL
    dense_active = table.loc[("dense, same active size", 4096)]
    assert dense_active.params_total == dense_active.params_active == round(ACTIVE_BODY) + 2 * EMBED
    assert table.loc[("as configured", 4096)].decode_time_ratio == 1
    assert dense_total.decode_time_ratio > 20  # reads all 80B weights per token instead of ~3.9B
    with pytest.raises(ValueError, match="unknown variant"):
        cost_table(config, variants=["moe"])


def _measured(model, tokens: int, batch: int) -> dict[str, int]:
    ids = torch.randint(3, 60, (batch, tokens), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        cache = model(input_ids=ids, use_cache=True).past_key_values
        cache = model(input_ids=ids[:, :1], cache=cache, use_cache=True).past_key_values  # one decode step
    return cache_memory(cache)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_memory_matches_real_cache_tensors(dtype):
    hybrid = make_model("qwen3_next").to(dtype)
    full = transformers.Qwen3NextForCausalLM(full_attention_config(hybrid.config)).to(dtype).eval()
    for model in (hybrid, full, make_model("mixtral").to(dtype), make_model("qwen3_moe").to(dtype)):
        measured = _measured(model, tokens=9, batch=3)
        predicted = model_cost(model.config, context=10, batch=3, dtype=dtype)
        assert measured == {"kv": predicted.kv_cache_memory, "state": predicted.state_memory}, type(model).__name__
    assert model_cost(hybrid.config, context=10).state_bytes_per_sequence > 0
    assert model_cost(full.config, context=10).state_bytes_per_sequence == 0


def test_sliding_window_caps_the_cache():
    config = transformers.MistralConfig(
        num_hidden_layers=2,
        hidden_size=64,
        num_attention_heads=4,
        num_key_value_heads=2,
        sliding_window=100,
        vocab_size=64,
    )
    assert model_cost(config, context=1000, dtype=torch.float32).kv_cache_memory == 2 * 2 * 2 * 16 * 4 * 100


def test_bad_input():
    with pytest.raises(TypeError, match="transformers config"):
        model_cost({"hidden_size": 3})
    with pytest.raises(ValueError, match="context"):
        model_cost(transformers.Qwen3MoeConfig(), context=0)
    with pytest.raises(TypeError, match="dtype"):
        model_cost(transformers.Qwen3MoeConfig(), dtype="bf16")
    with pytest.raises(TypeError, match="Cache"):
        cache_memory(torch.zeros(3))


def test_measure_context_reports_real_cache_bytes():
    from qnext_lab.analysis.context_speed import measure_context

    model = make_model("qwen3_next")
    df = measure_context(model, [4, 12], batch=2, decode_tokens=2, repeats=1)
    assert df.context.tolist() == [4, 12] and (df.prefill_s > 0).all() and (df.decode_s_per_token > 0).all()
    for row in df.itertuples():
        c = model_cost(model.config, context=row.context, batch=2, dtype=torch.float32)
        assert (row.kv_bytes, row.state_bytes) == (c.kv_cache_memory, c.state_memory)
    with pytest.raises(ValueError, match="max_position_embeddings"):
        measure_context(model, [model.config.max_position_embeddings])
    with pytest.raises(ValueError, match="contexts"):
        measure_context(model, [])
    with pytest.raises(TypeError, match="transformers model"):
        measure_context("model", [4])
