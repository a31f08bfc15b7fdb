"""The qnext-tiny architecture: a genuine ``Qwen3NextForCausalLM`` scaled down to a few million parameters.

It keeps what makes Qwen3-Next itself: Gated DeltaNet and gated full attention in the 3:1 layout, a
sparse MoE block in every layer (many small routed experts, top-k > 1, normalised top-k weights, a shared
expert scaled by its sigmoid gate) and zero-centred RMSNorm. Knows nothing about data or training.

    config = tiny_config(vocab_size=len(tokenizer))
    model = Qwen3NextForCausalLM(config)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from transformers import Qwen3NextConfig


@dataclass(frozen=True)
class TinyArch:
    """Sizes of qnext-tiny; each chosen for 2 CPU cores and a < 20 MB shipped directory."""

    hidden_size: int = 128  # wide enough for 5 task families, small enough for ~5 steps/s on CPU
    num_hidden_layers: int = 4  # one block of the 3:1 pattern: 3 Gated DeltaNet + 1 gated attention
    num_attention_heads: int = 4
    num_key_value_heads: int = 2  # grouped-query attention, as in Qwen3-Next (16:2 there)
    head_dim: int = 32
    linear_num_key_heads: int = 2
    linear_num_value_heads: int = 4  # Qwen3-Next uses twice as many V heads as QK heads
    linear_key_head_dim: int = 32
    linear_value_head_dim: int = 32
    num_experts: int = 32  # many small experts so routing heatmaps have structure to show
    num_experts_per_tok: int = 4
    moe_intermediate_size: int = 32  # a multiple of 4, so the grouped_mm backend also works
    shared_expert_intermediate_size: int = 128
    router_aux_loss_coef: float = 0.08  # the coefficient training uses (per-layer Switch loss); 0.01 left dead experts


def tiny_config(vocab_size: int, arch: TinyArch | None = None, **token_ids: int) -> Qwen3NextConfig:
    """A ``Qwen3NextConfig`` for qnext-tiny; ``token_ids`` sets pad/eos/bos token ids."""
    if vocab_size <= 0:
        raise ValueError(f"vocab_size must be positive, got {vocab_size}")
    arch = arch or TinyArch()
    n = arch.num_hidden_layers
    if n % 4:
        raise ValueError(f"num_hidden_layers must be a multiple of 4 for the 3:1 layout, got {n}")
    return Qwen3NextConfig(
        vocab_size=vocab_size,
        intermediate_size=arch.shared_expert_intermediate_size,
        max_position_embeddings=1024,
        layer_types=["full_attention" if (i + 1) % 4 == 0 else "linear_attention" for i in range(n)],
        norm_topk_prob=True,
        output_router_logits=False,  # training asks for them explicitly; inference does not need them
        tie_word_embeddings=False,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.25},
        linear_conv_kernel_dim=4,
        decoder_sparse_step=1,
        mlp_only_layers=[],
        initializer_range=0.02,
        **asdict(arch),
        **token_ids,
    )
