"""A small random Qwen3-Next model and a character-level tokenizer with Qwen3-style think tokens and chat
templates, built in memory for the thinking tests (no downloads, no bundled checkpoint needed).

Random weights produce random text, so tests force phases through the budget processor (or a scripted
processor) and check the bookkeeping exactly. Two template styles: "hybrid" (Qwen3: ``enable_thinking``)
and "thinking" (Qwen3-Next-Thinking: the template opens ``<think>`` itself).

    tok = char_tokenizer("hybrid"); model = random_model(tok)
"""

from __future__ import annotations

import string

import torch
from random_moe import moe_config, random_moe
from tokenizers import AddedToken, Tokenizer, decoders, models
from transformers import PreTrainedTokenizerFast, Qwen3NextForCausalLM

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]
CHARS = sorted(set(string.printable) - set("\r\x0b\x0c"))

_TURNS = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
)
TEMPLATES = {
    "hybrid": _TURNS
    + "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    + "{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}"
    + "{%- endif %}",
    # Qwen3.5/3.6 style: enable_thinking switches, but the template opens <think> itself (no soft switch)
    "qwen35": _TURNS
    + "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    + "{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}"
    + "{%- else %}{{- '<think>\\n' }}{%- endif %}{%- endif %}",
    "thinking": _TURNS + "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n<think>\\n' }}{%- endif %}",
    "plain": _TURNS + "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}",
}


STOP = "\nstop\n</think>\n"  # the toy model's stop text: short, so forced text costs few decode steps


def char_tokenizer(
    style: str = "hybrid", think_tokens: bool = True, think_special: bool = True
) -> PreTrainedTokenizerFast:
    """One token per character plus the chat specials; ``think_tokens=False`` drops <think>/</think>;
    ``think_special=False`` makes them plain added tokens, as in Qwen3's tokenizer."""
    specials = SPECIALS if think_tokens else SPECIALS[:3]
    vocab = {t: i for i, t in enumerate(specials + CHARS)}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=None, ignore_merges=True))
    core.decoder = decoders.Fuse()
    if think_tokens and not think_special:
        core.add_special_tokens(specials[:3])
        core.add_tokens([AddedToken(t, special=False, normalized=False) for t in specials[3:]])
    else:
        core.add_special_tokens(specials)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|endoftext|>", padding_side="left"
    )
    tok.chat_template = TEMPLATES[style]
    return tok


def random_model(tok: PreTrainedTokenizerFast, seed: int = 0, context: int = 512) -> Qwen3NextForCausalLM:
    """A ~0.3M-parameter Qwen3-Next (2 layers: DeltaNet + full attention, 8 experts top-2), eval mode."""
    config = moe_config(
        "qwen3_next",
        tiny=False,
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        layer_types=["linear_attention", "full_attention"],
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        linear_num_key_heads=2,
        linear_num_value_heads=4,
        linear_key_head_dim=16,
        linear_value_head_dim=16,
        num_experts=8,
        num_experts_per_tok=2,
        moe_intermediate_size=32,
        shared_expert_intermediate_size=32,
        max_position_embeddings=context,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=None,
    )
    model = random_moe(config, seed=seed, implementation=None, sharpen=False)
    with torch.no_grad():  # random init is near-uniform; sharpen it so greedy text has structure
        model.lm_head.weight.mul_(40.0)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    return model
