"""``load_gguf()``: a GGUF file as ``(model, tokenizer)``, dequantised to float.

Two roads. ``qwen2moe`` / ``qwen3moe`` / ``qwen35moe`` (Qwen3.5/3.6 MoE): transformers' own GGUF loader
(``from_pretrained(dir, gguf_file=...)``), with the expert widths it does not read from the metadata passed
explicitly. ``qwen3next`` (which transformers cannot load): the kit's inverse of llama.cpp's conversion
(``convert.from_gguf_tensors``): the config rebuilt from the metadata, every tensor dequantised with
``gguf.quants.dequantize``, the multi-token-prediction block that recent converters append (``blk.{N}``,
``nextn_predict_layers``) left out as transformers leaves it out of safetensors checkpoints. Tokenizer, both
roads: the exact ``tokenizer.huggingface.json`` when the file has one (the kit's own exports), else
transformers' rebuild from the ``tokenizer.ggml.*`` arrays llama.cpp's ``convert_hf_to_gguf.py`` writes.
Only the GGUF file is read (no pickle, no remote code). Knows the runtime's experts selection; nothing about
traces.

Top-k weight normalisation: a GGUF has no key for it; llama.cpp's graph decides per architecture (the
``norm_w`` argument of ``build_moe_ffn``): ``qwen3moe``, ``qwen3next`` and ``qwen35moe`` always renormalise the
top-k weights to sum 1, ``qwen2moe`` never does. Loaded models follow llama.cpp (so they run the file as
llama.cpp runs it): ``norm_topk_prob=True`` for qwen3moe even though ``Qwen3MoeConfig`` defaults to False (a
checkpoint saved with False comes back with True; Qwen3-30B-A3B's own config says True), False for qwen2moe.

    model, tok = load_gguf("qnext-tiny-Q4_0.gguf")
    model, tok = load_gguf("some/dir", gguf_file="qwen3-moe-Q8_0.gguf")
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import gguf
import torch
import transformers
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ..checks import as_int
from ..runtime.experts import IMPLEMENTATION_NAME
from ..runtime.template_guard import check_chat_template
from .convert import from_gguf_tensors
from .export import GENERATION_CONFIG_KEY
from .gguf_checks import GGUFLayout, GGUFLimits, check_metadata, check_size, check_weights, moe_weights, scan_gguf

__all__ = ["gguf_path", "load_gguf", "read_metadata"]

_TRANSFORMERS_ARCHS = ("qwen2moe", "qwen3moe", "qwen35moe")


def gguf_path(name_or_path: str | os.PathLike, gguf_file: str | os.PathLike | None) -> Path:
    """The GGUF file meant by ``load(path)`` (a .gguf file) or ``load(dir, gguf_file=name)``; clear errors otherwise."""
    base = Path(os.fspath(name_or_path)).expanduser()
    path = base / gguf_file if gguf_file is not None else base
    if gguf_file is not None and not base.is_dir():
        raise FileNotFoundError(f"gguf_file= names a file inside a local directory; {str(base)!r} is not a directory")
    if not path.is_file():
        raise FileNotFoundError(f"no GGUF file at {str(path)!r}")
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF":
            raise ValueError(f"{str(path)!r} is not a GGUF file (it does not start with the 'GGUF' magic)")
    return path


def read_metadata(reader: gguf.GGUFReader) -> dict[str, Any]:
    """All key/value fields of a GGUF file as Python values (strings, numbers, lists)."""
    return {name: field.contents() for name, field in reader.fields.items() if not name.startswith("GGUF.")}


def _in_mtp_block(name: str, layers: int, blocks: int) -> bool:
    """Whether a tensor belongs to the blocks after the decoder's ``layers`` that the file's ``block_count``
    includes (``nextn_predict_layers`` of them)."""
    parts = name.split(".")
    return parts[0] == "blk" and parts[1].isdigit() and layers <= int(parts[1]) < blocks


def _qwen3next_config(meta: dict[str, Any], tensor_names: set[str]) -> transformers.Qwen3NextConfig:
    a = "qwen3next"

    def get(key: str) -> Any:
        if f"{a}.{key}" not in meta:
            raise ValueError(f"the GGUF file lacks {a}.{key}: not a complete qwen3next file")
        return meta[f"{a}.{key}"]

    # llama.cpp counts the multi-token-prediction block (written by default since its MTP export) as a layer
    blocks = int(get("block_count"))
    nextn = as_int(meta.get(f"{a}.nextn_predict_layers", 0), f"{a}.nextn_predict_layers", low=0, high=blocks - 1)
    layers = blocks - nextn
    interval = int(meta.get(f"{a}.full_attention_interval", 4))
    head_dim, heads_v = int(get("attention.key_length")), int(get("ssm.time_step_rank"))
    return transformers.Qwen3NextConfig(
        vocab_size=len(meta["tokenizer.ggml.tokens"]),
        hidden_size=int(get("embedding_length")),
        intermediate_size=int(get("feed_forward_length")),
        num_hidden_layers=layers,
        num_attention_heads=int(get("attention.head_count")),
        num_key_value_heads=int(get("attention.head_count_kv")),
        head_dim=head_dim,
        max_position_embeddings=int(get("context_length")),
        rms_norm_eps=float(get("attention.layer_norm_rms_epsilon")),
        rope_parameters={
            "rope_type": "default",
            "rope_theta": float(get("rope.freq_base")),
            "partial_rotary_factor": int(get("rope.dimension_count")) / head_dim,
        },
        num_experts=int(get("expert_count")),
        num_experts_per_tok=int(get("expert_used_count")),
        moe_intermediate_size=int(get("expert_feed_forward_length")),
        shared_expert_intermediate_size=int(meta.get(f"{a}.expert_shared_feed_forward_length", 0)),
        norm_topk_prob=True,  # llama.cpp's qwen3next graph always renormalises the top-k weights
        linear_conv_kernel_dim=int(get("ssm.conv_kernel")),
        linear_key_head_dim=int(get("ssm.state_size")),
        linear_num_key_heads=int(get("ssm.group_count")),
        linear_num_value_heads=heads_v,
        linear_value_head_dim=int(get("ssm.inner_size")) // heads_v,
        layer_types=["full_attention" if (i + 1) % interval == 0 else "linear_attention" for i in range(layers)],
        decoder_sparse_step=1,
        mlp_only_layers=[],
        tie_word_embeddings="output.weight" not in tensor_names,
        eos_token_id=meta.get("tokenizer.ggml.eos_token_id"),
        pad_token_id=meta.get("tokenizer.ggml.padding_token_id"),
        bos_token_id=meta.get("tokenizer.ggml.bos_token_id"),
    )


def _ggml_tokenizer(meta: dict[str, Any], tokens: list[str], path: Path) -> Any:
    """The BPE tokenizer llama.cpp's converter writes as ``tokenizer.ggml.*`` arrays, built by transformers' own
    GGUF tokenizer code, which moved in 5.25 (``integrations.ggml`` -> ``integrations.gguf``, reading the file
    itself and choosing the builder from ``tokenizer.ggml.model``)."""
    try:  # transformers >= 5.25
        from transformers.integrations.gguf import convert_gguf_tokenizer, get_gguf_tokenizer
    except ImportError:  # transformers 5.24
        from transformers.integrations.ggml import convert_gguf_tokenizer

        fields = {k.removeprefix("tokenizer.ggml."): v for k, v in meta.items() if k.startswith("tokenizer.ggml.")}
        fields["tokens"], fields["merges"] = tokens, fields.get("merges", [])
        return convert_gguf_tokenizer("qwen2", fields)[0]
    architecture, tokenizer_dict, _ = get_gguf_tokenizer(str(path))
    return convert_gguf_tokenizer(architecture, tokenizer_dict)[0]


def _tokenizer(meta: dict[str, Any], path: Path) -> PreTrainedTokenizerBase:
    from tokenizers import Tokenizer

    tokens = meta["tokenizer.ggml.tokens"]

    def text(key: str) -> str | None:
        i = meta.get(f"tokenizer.ggml.{key}_token_id")
        return tokens[i] if i is not None and 0 <= i < len(tokens) else None

    if gguf.Keys.Tokenizer.HF_JSON in meta:
        backend = Tokenizer.from_str(meta[gguf.Keys.Tokenizer.HF_JSON])
    else:  # llama.cpp's converter: the vocabulary as tokenizer.ggml.* arrays, rebuilt by transformers
        backend = _ggml_tokenizer(meta, tokens, path)
    tok = transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token=text("eos"),
        pad_token=text("padding"),
        bos_token=text("bos"),
        chat_template=meta.get("tokenizer.chat_template"),
        padding_side="left",
    )
    tok.name_or_path = str(path)
    return tok


def _load_qwen3next(
    path: Path, dtype: torch.dtype | str | None, experts_implementation: str, layout: GGUFLayout, limits: GGUFLimits
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    meta = layout.metadata  # read by the checked scan (gguf.GGUFReader spends ~40 s on a Qwen3 vocabulary here)
    config = _qwen3next_config(meta, {t.name for t in layout.tensors})
    with torch.device("meta"):
        skeleton = transformers.Qwen3NextForCausalLM(config)
    expected = {
        name: p.shape
        for name, p in skeleton.state_dict().items()
        if not (config.tie_word_embeddings and name == "lm_head.weight")
    }
    check_size(sum(torch.Size(s).numel() for s in expected.values()), layout, path, limits)  # before allocating
    # float32, row-major; the MTP block (blk.{layers}.*, llama.cpp's speculative draft head) has no place in
    # transformers' Qwen3NextForCausalLM, which drops MTP weights from safetensors checkpoints too
    blocks = int(meta["qwen3next.block_count"])
    arrays = {
        t.name: gguf.quants.dequantize(layout.array(t), t.tensor_type)
        for t in layout.tensors
        if not _in_mtp_block(t.name, config.num_hidden_layers, blocks)
    }
    state = from_gguf_tensors(arrays, config, expected)
    model = transformers.Qwen3NextForCausalLM(config)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or set(missing) - {"lm_head.weight"}:
        raise ValueError(f"GGUF tensors do not fill the model: missing {missing}, unexpected {unexpected}")
    if config.tie_word_embeddings:
        model.tie_weights()
    if GENERATION_CONFIG_KEY in meta:
        model.generation_config = transformers.GenerationConfig.from_dict(json.loads(meta[GENERATION_CONFIG_KEY]))
    model.set_experts_implementation(experts_implementation)
    check_weights(model.eval(), path)
    if dtype is not None:
        model = model.to(dtype)
    return model.eval(), _checked(_tokenizer(meta, path), path)


def _checked(tok: PreTrainedTokenizerBase, path: Path) -> PreTrainedTokenizerBase:
    check_chat_template(tok, path.name)  # a template that never ends is refused here, not at generate
    return tok


def _load_with_transformers(
    path: Path,
    arch: str,
    meta: dict[str, Any],
    dtype: torch.dtype | str | None,
    experts_implementation: str,
    **kwargs: Any,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    # transformers maps most keys itself but not the expert widths; pass them so the shapes match the file
    overrides: dict[str, Any] = {}
    if f"{arch}.expert_feed_forward_length" in meta:
        overrides["moe_intermediate_size"] = int(meta[f"{arch}.expert_feed_forward_length"])
    if f"{arch}.expert_shared_feed_forward_length" in meta:
        overrides["shared_expert_intermediate_size"] = int(meta[f"{arch}.expert_shared_feed_forward_length"])
    directory, name = str(path.parent), path.name
    model = transformers.AutoModelForCausalLM.from_pretrained(
        directory, gguf_file=name, dtype=dtype, experts_implementation=experts_implementation, **overrides, **kwargs
    )
    check_weights(model.eval(), path)
    if gguf.Keys.Tokenizer.HF_JSON in meta:  # the exact tokenizer (files from export_gguf)
        return model.eval(), _checked(_tokenizer(meta, path), path)
    return model.eval(), _checked(transformers.AutoTokenizer.from_pretrained(directory, gguf_file=name), path)


def load_gguf(
    name_or_path: str | os.PathLike,
    gguf_file: str | os.PathLike | None = None,
    *,
    dtype: torch.dtype | str | None = None,
    experts_implementation: str = IMPLEMENTATION_NAME,
    gguf_limits: GGUFLimits | None = None,
    **kwargs: Any,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """``(model, tokenizer)`` from a GGUF file (qwen3next, qwen3moe, qwen2moe), weights dequantised to float32
    (or ``dtype``), ``experts_implementation`` selected, in eval mode.

    The file is untrusted: ``gguf_checks`` checks its header against its size before it is parsed, its
    metadata against ``gguf_limits`` (``GGUFLimits``) before a config is built, the model it describes against
    the weights it holds before anything is allocated, and the loaded weights and chat template after."""
    if isinstance(dtype, str):
        if not isinstance(getattr(torch, dtype, None), torch.dtype):
            raise ValueError(f"dtype {dtype!r} is not a torch dtype name (e.g. 'float32', 'bfloat16')")
        dtype = getattr(torch, dtype)
    path = gguf_path(name_or_path, gguf_file)
    limits = gguf_limits or GGUFLimits()
    layout = scan_gguf(path, limits)  # every length and offset checked against the file's size, then read
    meta = layout.metadata
    arch = meta.get("general.architecture")
    if isinstance(arch, str):
        check_metadata(meta, arch, path, limits)
    if arch == "qwen3next":
        if kwargs:
            raise TypeError(
                f"loading a qwen3next GGUF takes dtype and experts_implementation only, not {sorted(kwargs)}"
            )
        return _load_qwen3next(path, dtype, experts_implementation, layout, limits)
    if arch in _TRANSFORMERS_ARCHS:
        check_size(moe_weights(meta, arch), layout, path, limits)
        return _load_with_transformers(path, arch, meta, dtype, experts_implementation, **kwargs)
    raise ValueError(
        f"{path.name} holds a {arch!r} model; qnext-lab loads the MoE architectures qwen3next "
        f"(its own inverse conversion) and {', '.join(_TRANSFORMERS_ARCHS)} (transformers' GGUF loader)"
    )
