"""``export_gguf()``: a Qwen3-Next (or Qwen3-MoE) model and its tokenizer as one GGUF file llama.cpp can run.

Written with ``gguf.GGUFWriter``: the metadata keys llama.cpp's converter writes for ``qwen3next`` /
``qwen3moe`` (sizes, experts, the Gated DeltaNet's ``ssm.*`` keys, full-attention interval, partial RoPE), the
tensors converted by ``convert.py``, each quantised with ``gguf.quants.quantize`` (1-D tensors, norms, router
and conv kernels stay F32, as in llama.cpp's converter; a tensor whose rows do not fit the block size falls
back to F16, as there too), and the tokenizer: llama.cpp's ``gpt2`` BPE fields (tokens in GPT-2's byte-level
alphabet, types, merges (one inert placeholder for a merge-less vocabulary, which llama.cpp would refuse), special
ids, chat template) plus the exact Hugging Face ``tokenizer.json`` under
``tokenizer.huggingface.json``. The file is written beside the target and renamed into place when complete, so
a failed export never leaves a half-written file under the name. Knows nothing about traces.

    path = export_gguf(model, tok, "qnext-tiny-Q8_0.gguf", qtype="Q8_0")
    model2, tok2 = qnext_lab.load("qnext-tiny-Q8_0.gguf")
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import gguf
import torch
from transformers import PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

from .atomic import writing
from .convert import gguf_arch, to_gguf_tensors
from .quantization import qtype_of

__all__ = ["GENERATION_CONFIG_KEY", "NO_MERGE", "export_gguf"]

# the model's generation_config (e.g. the bundled model's thinking_stop_text) as JSON; llama.cpp ignores it
GENERATION_CONFIG_KEY = "qnext_lab.generation_config"
NO_MERGE = "<|qnext_lab|> <|no_merges|>"  # see _write_tokenizer
_FILE_TYPES = {
    "F32": gguf.LlamaFileType.ALL_F32,
    "F16": gguf.LlamaFileType.MOSTLY_F16,
    "BF16": gguf.LlamaFileType.MOSTLY_BF16,
    "Q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
    "Q5_0": gguf.LlamaFileType.MOSTLY_Q5_0,
    "Q4_0": gguf.LlamaFileType.MOSTLY_Q4_0,
    "MXFP4": gguf.LlamaFileType.MOSTLY_MXFP4_MOE,
}


def _check_supported(config: PretrainedConfig, arch: str) -> None:
    """Refuse configs llama.cpp's graph would run differently (a silent wrong answer otherwise)."""
    if getattr(config, "mlp_only_layers", None) or getattr(config, "decoder_sparse_step", 1) != 1:
        raise ValueError(
            "llama.cpp's qwen3next/qwen3moe graphs put experts in every layer; this config has dense "
            f"layers (mlp_only_layers={config.mlp_only_layers}, decoder_sparse_step={config.decoder_sparse_step})"
        )
    if not getattr(config, "norm_topk_prob", True):
        raise ValueError(
            f"llama.cpp's {arch} graph renormalises the top-k weights (as Qwen's checkpoints do); this "
            "config has norm_topk_prob=False, which no GGUF key can express"
        )
    if arch == "qwen3next":
        interval = getattr(config, "full_attention_interval", 4)
        pattern = [
            "full_attention" if (i + 1) % interval == 0 else "linear_attention" for i in range(config.num_hidden_layers)
        ]
        if list(config.layer_types) != pattern:
            raise ValueError(
                f"llama.cpp's qwen3next derives the layer types from full_attention_interval={interval}; "
                f"this config's layer_types {list(config.layer_types)} do not follow it"
            )


def _write_hparams(w: gguf.GGUFWriter, config: PretrainedConfig, arch: str, qtype: str) -> None:
    c = config
    rope = getattr(c, "rope_parameters", None) or {}
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    w.add_block_count(c.num_hidden_layers)
    w.add_context_length(c.max_position_embeddings)
    w.add_embedding_length(c.hidden_size)
    w.add_feed_forward_length(c.intermediate_size)
    w.add_head_count(c.num_attention_heads)
    w.add_head_count_kv(c.num_key_value_heads)
    w.add_rope_freq_base(float(rope.get("rope_theta", getattr(c, "rope_theta", 10000.0))))
    w.add_layer_norm_rms_eps(c.rms_norm_eps)
    w.add_expert_count(c.num_experts)
    w.add_expert_used_count(c.num_experts_per_tok)
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    w.add_file_type(_FILE_TYPES[qtype])
    w.add_expert_feed_forward_length(c.moe_intermediate_size)
    if getattr(c, "shared_expert_intermediate_size", 0):
        w.add_expert_shared_feed_forward_length(c.shared_expert_intermediate_size)
    if arch == "qwen3next":
        w.add_ssm_conv_kernel(c.linear_conv_kernel_dim)
        w.add_ssm_state_size(c.linear_key_head_dim)
        w.add_ssm_group_count(c.linear_num_key_heads)
        w.add_ssm_time_step_rank(c.linear_num_value_heads)
        w.add_ssm_inner_size(c.linear_value_head_dim * c.linear_num_value_heads)
        w.add_full_attention_interval(getattr(c, "full_attention_interval", 4))
        w.add_rope_dimension_count(int(head_dim * rope.get("partial_rotary_factor", 0.25)))
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)


def _byte_table() -> dict[int, str]:
    """GPT-2's byte -> printable character table: printable Latin-1 bytes map to themselves, the other 68 bytes
    to U+0100 onwards in byte order (so a space is "Ġ" and a newline "Ċ")."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    moved = [b for b in range(256) if b not in keep]
    return {**{b: chr(b) for b in keep}, **{b: chr(256 + i) for i, b in enumerate(moved)}}


_BYTES = _byte_table()


def _byte_level(text: str) -> str:
    """Token text in GPT-2's byte-level alphabet (what llama.cpp's gpt2 tokenizer decodes)."""
    return "".join(_BYTES[b] for b in text.encode("utf-8"))


def _write_tokenizer(w: gguf.GGUFWriter, tokenizer: PreTrainedTokenizerBase, config: PretrainedConfig) -> None:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise TypeError(f"export_gguf needs a fast (tokenizers-backed) tokenizer, got {type(tokenizer).__name__}")
    spec = json.loads(backend.to_str())
    if spec["model"]["type"] != "BPE":
        raise ValueError(
            f"export_gguf writes llama.cpp's BPE ('gpt2') vocabulary; this tokenizer is {spec['model']['type']}"
        )
    byte_level = "ByteLevel" in json.dumps(spec.get("pre_tokenizer")) + json.dumps(spec.get("decoder"))
    added = {t["id"]: t for t in spec.get("added_tokens", [])}
    by_id = {i: t for t, i in spec["model"]["vocab"].items()}
    by_id.update({i: t["content"] for i, t in added.items()})
    vocab_size = max(config.vocab_size, len(by_id))
    tokens, types = [], []
    for i in range(vocab_size):
        if i not in by_id:
            tokens.append(f"[PAD{i}]")  # rows of a padded embedding, as llama.cpp's converter names them
            types.append(gguf.TokenType.UNUSED)
        elif i in added:
            tokens.append(by_id[i])
            types.append(gguf.TokenType.CONTROL if added[i].get("special") else gguf.TokenType.USER_DEFINED)
        else:
            tokens.append(by_id[i] if byte_level else _byte_level(by_id[i]))
            types.append(gguf.TokenType.NORMAL)
    merges = [m if isinstance(m, str) else " ".join(m) for m in spec["model"].get("merges", [])]
    if not byte_level:
        merges = [" ".join(_byte_level(p) for p in m.split(" ")) for m in merges]
    if not merges:
        # llama.cpp refuses a gpt2 vocabulary without a merges key and gguf cannot write an empty array; a
        # character-level vocabulary (the bundled model's) has no merges, so write one that can never apply:
        # its parts are multi-character strings that no merge builds, so every character stays one token
        merges = [NO_MERGE]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    for setter, value in (
        (w.add_eos_token_id, tokenizer.eos_token_id),
        (w.add_pad_token_id, tokenizer.pad_token_id),
        (w.add_bos_token_id, tokenizer.bos_token_id),
    ):
        if value is not None:
            setter(int(value))
    w.add_add_bos_token(False)
    if isinstance(getattr(tokenizer, "chat_template", None), str):
        w.add_chat_template(tokenizer.chat_template)
    w.add_string(gguf.Keys.Tokenizer.HF_JSON, backend.to_str())


def _write_all(
    writer: gguf.GGUFWriter,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    config: PretrainedConfig,
    arch: str,
    qt: gguf.GGMLQuantizationType,
) -> None:
    writer.add_name(Path(str(getattr(config, "_name_or_path", "") or type(model).__name__)).name)
    _write_hparams(writer, config, arch, qt.name)
    _write_tokenizer(writer, tokenizer, config)
    generation = getattr(model, "generation_config", None)
    if generation is not None:
        writer.add_string(GENERATION_CONFIG_KEY, json.dumps(generation.to_diff_dict()))
    state = model.state_dict()
    if getattr(config, "tie_word_embeddings", False):
        state.pop("lm_head.weight", None)  # llama.cpp reuses token_embd when output.weight is absent
    with torch.no_grad():
        for name, data, keep_f32 in to_gguf_tensors(state, config):
            tensor_type = gguf.GGMLQuantizationType.F32 if keep_f32 else qt
            array = data.numpy()
            try:
                packed = gguf.quants.quantize(array, tensor_type)
            except gguf.quants.QuantError:  # rows not a multiple of the block size: F16, as llama.cpp's converter
                tensor_type = gguf.GGMLQuantizationType.F16
                packed = gguf.quants.quantize(array, tensor_type)
            writer.add_tensor(name, packed, raw_dtype=tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()


def export_gguf(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, path: str | os.PathLike, qtype: str = "F16"
) -> Path:
    """Write ``model`` + ``tokenizer`` to ``path`` as a GGUF file of ``qtype`` (F32, F16, BF16, Q8_0, Q5_0, Q4_0,
    MXFP4); returns the path. Supports Qwen3-Next (llama.cpp ``qwen3next``) and Qwen3-MoE (``qwen3moe``)."""
    if not isinstance(model, PreTrainedModel):
        raise TypeError(
            f"export_gguf takes a transformers model (e.g. from qnext_lab.load), got {type(model).__name__}"
        )
    config = model.config
    arch = gguf_arch(config)
    _check_supported(config, arch)
    qt = qtype_of(qtype)
    target = Path(path).expanduser()
    if target.suffix != ".gguf":
        raise ValueError(f"GGUF files end in .gguf (llama.cpp looks for that), got {str(target)!r}")
    if not target.parent.is_dir():
        raise FileNotFoundError(f"no directory {str(target.parent)!r} to write {target.name} into")
    # written to a fresh temp file of our own (formats.atomic: never a user's file, never through a planted
    # symlink), renamed over the target only when whole, removed on any failure (a full disk included)
    with writing(target) as partial:
        writer = gguf.GGUFWriter(partial, arch)
        try:
            _write_all(writer, model, tokenizer, config, arch, qt)
            writer.close()
        except BaseException:
            try:
                writer.close()  # may raise again on a full disk; writing() removes the temp file regardless
            except Exception:  # noqa: BLE001 - the first error is the one to report
                pass
            raise
    return target
