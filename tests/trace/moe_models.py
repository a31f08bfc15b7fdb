"""Small random MoE models of several transformers families, for capture / analysis / intervention tests.

Exact sizes many tests rely on, built by the one factory (``tests/random_moe.py``).
"""

from __future__ import annotations

import torch
from random_moe import moe_config, random_moe

COMMON = dict(
    vocab_size=64,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    num_key_value_heads=1,
    pad_token_id=0,
    eos_token_id=1,
    bos_token_id=2,
)

FAMILIES = {
    "qwen3_next": (
        "Qwen3NextConfig",
        "Qwen3NextForCausalLM",
        dict(
            num_hidden_layers=4,
            head_dim=16,
            intermediate_size=64,
            moe_intermediate_size=16,
            shared_expert_intermediate_size=16,
            num_experts=8,
            num_experts_per_tok=2,
            linear_num_key_heads=2,
            linear_num_value_heads=2,
            linear_key_head_dim=8,
            linear_value_head_dim=8,
        ),
    ),
    "qwen3_moe": (
        "Qwen3MoeConfig",
        "Qwen3MoeForCausalLM",
        dict(head_dim=16, intermediate_size=64, moe_intermediate_size=16, num_experts=8, num_experts_per_tok=2),
    ),
    "mixtral": (
        "MixtralConfig",
        "MixtralForCausalLM",
        dict(head_dim=16, intermediate_size=16, num_local_experts=4, num_experts_per_tok=2),
    ),
    "olmoe": ("OlmoeConfig", "OlmoeForCausalLM", dict(intermediate_size=16, num_experts=8, num_experts_per_tok=2)),
    "deepseek_v3": (
        "DeepseekV3Config",
        "DeepseekV3ForCausalLM",
        dict(
            intermediate_size=64,
            moe_intermediate_size=16,
            n_routed_experts=8,
            num_experts_per_tok=2,
            n_group=2,
            topk_group=1,
            first_k_dense_replace=0,
            kv_lora_rank=8,
            q_lora_rank=None,
            qk_rope_head_dim=8,
            qk_nope_head_dim=8,
            v_head_dim=8,
            num_key_value_heads=2,
        ),
    ),
    "gpt_oss": (
        "GptOssConfig",
        "GptOssForCausalLM",
        dict(
            head_dim=16,
            intermediate_size=16,
            num_local_experts=4,
            num_experts_per_tok=2,
            layer_types=["sliding_attention", "full_attention"],
        ),
    ),
}


def make_model(
    family: str = "qwen3_next", seed: int = 0, implementation: str = "eager", **overrides
) -> torch.nn.Module:
    config_name, model_name, kw = FAMILIES[family]
    config = moe_config(family, tiny=False, **{**COMMON, **kw, **overrides})
    assert type(config).__name__ == config_name
    model = random_moe(config, seed=seed, implementation=implementation)
    assert type(model).__name__ == model_name
    return model


def gguf_qwen3_moe(vocab_size: int, seed: int = 0) -> torch.nn.Module:
    """A small random Qwen3-MoE with the bundled tokenizer's vocabulary and ids, for the GGUF export/import tests
    (head_dim 32 and a normalised top-k, as llama.cpp's qwen3moe graph reads them)."""
    return make_model(
        "qwen3_moe",
        seed=seed,
        vocab_size=vocab_size,
        hidden_size=64,
        head_dim=32,
        moe_intermediate_size=32,
        intermediate_size=64,
        norm_topk_prob=True,
        pad_token_id=0,
        eos_token_id=2,
        bos_token_id=None,
    )
