"""quantize(): the chosen weights hold exactly what llama.cpp's block formats store (gguf's own quantisers),
the rest and the original model are untouched, and bad arguments are refused with a clear message."""

from __future__ import annotations

import gguf
import numpy as np
import pytest
import torch

import qnext_lab as ql
from qnext_lab.formats.quantization import FORMATS, GGUF_PARTS, weight_part


def _expected(weight: torch.Tensor, fmt: str) -> torch.Tensor:
    qtype = gguf.GGMLQuantizationType[fmt]
    packed = gguf.quants.quantize(weight.detach().float().numpy(), qtype)
    return torch.from_numpy(gguf.quants.dequantize(packed, qtype).reshape(weight.shape))


@pytest.mark.parametrize("fmt", FORMATS)
def test_selected_weights_match_gguf_round_trip_and_the_rest_is_untouched(tiny, fmt):
    model, _ = tiny
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    q = ql.quantize(model, fmt)
    info = q.qnext_lab_quantization
    assert isinstance(info, ql.QuantizationInfo) and info.format == fmt and info.parts == GGUF_PARTS
    params = dict(q.named_parameters())
    for name, orig in before.items():
        if name in info.tensors:
            assert torch.equal(params[name], _expected(orig, fmt)), name
            assert not torch.equal(params[name], orig), f"{name} did not change under {fmt}"
        else:
            assert torch.equal(params[name], orig), f"{name} changed although not selected"
        assert torch.equal(dict(model.named_parameters())[name], orig), "quantize() modified the original model"
    # the parts a GGUF file quantises: experts, shared expert, attention (incl. the linear attention), embeddings
    kinds = {weight_part(model, n) for n in info.tensors}
    assert kinds == set(GGUF_PARTS)
    assert not any(
        "norm" in n or n.endswith(("A_log", "dt_bias", "conv1d.weight", "mlp.gate.weight")) for n in info.tensors
    )


def test_error_shrinks_with_more_bits(tiny):
    model, _ = tiny
    w = model.model.layers[0].mlp.experts.gate_up_proj.detach()
    errors = {
        f: (ql.quantize(model, f, parts="experts").model.layers[0].mlp.experts.gate_up_proj - w).abs().mean().item()
        for f in ("Q8_0", "Q5_0", "Q4_0")
    }
    assert 0 < errors["Q8_0"] < errors["Q5_0"] < errors["Q4_0"]
    # Q8_0: one scale d = max|block| / 127 per 32 values, stored as fp16 (relative error <= 2^-11), so
    # |error| <= d / 2 + 127 * d * 2^-11 < 0.57 d
    blocks = w.reshape(-1, 32)
    err = ql.quantize(model, "Q8_0", parts="experts").model.layers[0].mlp.experts.gate_up_proj.reshape(-1, 32) - blocks
    assert bool((err.abs() <= blocks.abs().amax(-1, keepdim=True) / 127 * 0.57).all())


def test_parts_select_only_those_weights(tiny):
    model, _ = tiny
    info = ql.quantize(model, "Q4_0", parts="router").qnext_lab_quantization
    assert set(info.tensors) == {f"model.layers.{i}.mlp.gate.weight" for i in range(4)}
    info = ql.quantize(model, "Q4_0", parts=["experts", "shared_expert"]).qnext_lab_quantization
    assert {weight_part(model, n) for n in info.tensors} == {"experts", "shared_expert"}
    assert len(ql.quantize(model, "MXFP4", parts="all").qnext_lab_quantization.tensors) > len(info.tensors)


def test_bad_arguments_are_refused_clearly(tiny):
    model, _ = tiny
    with pytest.raises(ValueError, match="unknown format 'Q3_K'.*Q8_0"):
        ql.quantize(model, "Q3_K")
    with pytest.raises(ValueError, match="plain float type"):
        ql.quantize(model, "F16")
    with pytest.raises(ValueError, match="unknown part.*'mlp'.*experts"):
        ql.quantize(model, "Q8_0", parts="mlp")
    with pytest.raises(TypeError, match="torch model"):
        ql.quantize("tiny", "Q8_0")
    with pytest.raises(TypeError, match="string"):
        ql.quantize(model, 4)
    dense = torch.nn.Linear(64, 64)
    with pytest.raises(ValueError, match="no experts modules"):
        ql.quantize(dense, "Q8_0")


def test_rows_off_the_block_size_fall_back_to_f16_like_llama_cpp():
    from moe_models import make_model

    model = make_model("qwen3_moe", hidden_size=48, head_dim=16)  # rows of 48: not a multiple of 32
    q = ql.quantize(model, "Q4_0", parts="experts")
    info = q.qnext_lab_quantization
    gate_up = "model.layers.0.mlp.experts.gate_up_proj"
    assert gate_up in info.fallbacks and info.tensors[gate_up] == "F16"
    w = model.model.layers[0].mlp.experts.gate_up_proj.detach()
    assert torch.equal(q.model.layers[0].mlp.experts.gate_up_proj, w.half().float())
    assert np.isfinite(q.model.layers[0].mlp.experts.down_proj.detach().numpy()).all()


@pytest.mark.parametrize("family", ["qwen3_moe", "mixtral", "olmoe", "deepseek_v3", "gpt_oss"])
def test_other_moe_families_find_their_parts(family):
    from moe_models import make_model

    model = make_model(family, implementation="qnext")
    q = ql.quantize(model, "Q8_0", parts="all")
    parts = {weight_part(model, n) for n in q.qnext_lab_quantization.tensors}
    assert {"experts", "router", "attention", "embeddings"} <= parts
    assert not any(n.endswith(("bias", "norm.weight")) for n in q.qnext_lab_quantization.tensors)
    ids = torch.randint(3, 60, (1, 9))
    with torch.no_grad():
        assert torch.isfinite(q(ids).logits).all()
