"""Small random configs of the MoE families the "qnext" experts must match transformers' eager on.

Built by the one factory (``tests/random_moe.py``). Sizes are tiny (2 layers, hidden 48, odd intermediate sizes) so a full-model forward takes milliseconds
on 2 CPU cores, yet every family's experts layout is the real one (GPT-OSS: transposed, interleaved,
biased, clamped SwiGLU; DeepSeek-V3: grouped sigmoid routing with shared experts).
"""

import transformers
from random_moe import moe_config

VOCAB = 96
COMMON = dict(
    vocab_size=VOCAB,
    hidden_size=48,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=128,
    tie_word_embeddings=False,
)


def family_configs() -> dict[str, transformers.PretrainedConfig]:
    return {
        "qwen3_next": moe_config(
            "qwen3_next",
            tiny=False,
            **COMMON,
            head_dim=16,
            intermediate_size=72,
            moe_intermediate_size=20,
            shared_expert_intermediate_size=20,
            num_experts=16,
            num_experts_per_tok=4,
            layer_types=["linear_attention", "full_attention"],
            linear_num_key_heads=2,
            linear_num_value_heads=4,
            linear_key_head_dim=8,
            linear_value_head_dim=8,
        ),
        "qwen3_moe": moe_config(
            "qwen3_moe",
            tiny=False,
            **COMMON,
            head_dim=12,
            intermediate_size=72,
            moe_intermediate_size=22,
            num_experts=8,
            num_experts_per_tok=2,
        ),
        "qwen2_moe": moe_config(
            "qwen2_moe",
            tiny=False,
            **COMMON,
            intermediate_size=72,
            moe_intermediate_size=22,
            shared_expert_intermediate_size=30,
            num_experts=8,
            num_experts_per_tok=2,
        ),
        "mixtral": moe_config(
            "mixtral", tiny=False, **COMMON, intermediate_size=26, num_local_experts=8, num_experts_per_tok=2
        ),
        "olmoe": moe_config("olmoe", tiny=False, **COMMON, intermediate_size=26, num_experts=16, num_experts_per_tok=8),
        "deepseek_v3": moe_config(
            "deepseek_v3",
            tiny=False,
            **{**COMMON, "num_key_value_heads": 4},
            intermediate_size=72,
            moe_intermediate_size=22,
            n_routed_experts=16,
            num_experts_per_tok=4,
            n_group=4,
            topk_group=2,
            n_shared_experts=1,
            first_k_dense_replace=1,
            q_lora_rank=24,
            kv_lora_rank=16,
            qk_rope_head_dim=8,
            qk_nope_head_dim=8,
            v_head_dim=12,
        ),
        "gpt_oss": moe_config(
            "gpt_oss",
            tiny=False,
            **COMMON,
            head_dim=12,
            intermediate_size=26,
            num_local_experts=8,
            num_experts_per_tok=2,
            sliding_window=16,
            layer_types=["sliding_attention", "full_attention"],
        ),
    }
