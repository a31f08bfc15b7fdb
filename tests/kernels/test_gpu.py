"""The Triton kernels on a CUDA device: bf16 (which the CPU interpreter cannot check), Qwen3-Next's real
shape, int64 offsets past 2^31 elements, a transformers model end to end, and the runtime's first-use
self-check (it must pass on real GPUs, or load()'s default would quietly run torch). Skipped without CUDA."""

import pytest
import torch

from qnext_lab.kernels import HAS_TRITON, ExpertWeights, moe_experts, moe_forward, route, route_reference

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not (torch.cuda.is_available() and HAS_TRITON), reason="needs a CUDA device and triton"),
]
TOL = {torch.float32: 1e-4, torch.float16: 1e-2, torch.bfloat16: 2e-2}  # relative to the largest |reference|


def _weights(e, h, i, dtype, transposed=False, interleaved=False, bias=False):
    g = torch.Generator(device="cuda").manual_seed(0)
    w1 = torch.randn(e, 2 * i, h, device="cuda", generator=g) / h**0.5
    w2 = torch.randn(e, h, i, device="cuda", generator=g) / i**0.5
    if transposed:  # GPT-OSS stores x @ W
        w1, w2 = w1.transpose(1, 2).contiguous(), w2.transpose(1, 2).contiguous()
    b1 = (torch.randn(e, 2 * i, device="cuda", generator=g) * 0.1).to(dtype) if bias else None
    b2 = (torch.randn(e, h, device="cuda", generator=g) * 0.1).to(dtype) if bias else None
    return ExpertWeights(w1.to(dtype), w2.to(dtype), b1, b2, transposed=transposed, interleaved=interleaved)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
@pytest.mark.parametrize(
    "t,e,k,h,i", [(1, 512, 10, 2048, 512), (7, 64, 8, 200, 72), (257, 512, 10, 2048, 512), (129, 8, 2, 72, 40)]
)
def test_moe_forward_matches_torch_reference(dtype, t, e, k, h, i):
    x = torch.randn(t, h, device="cuda").to(dtype)
    logits = torch.randn(t, e, device="cuda")
    w = _weights(e, h, i, dtype)
    got = moe_forward(x, logits, w, k, backend="triton")
    ref = moe_forward(x, logits, w, k, backend="torch")
    assert got.backend == "triton" and torch.equal(got.topk_ids, ref.topk_ids)
    err = (got.output.float() - ref.output.float()).abs().max() / ref.output.float().abs().max()
    assert err <= TOL[dtype], f"relative error {err:.3g}"
    again = moe_forward(x, logits, w, k, backend="triton").output
    assert torch.equal(again, got.output)  # deterministic: no atomics in the combine


def test_routing_kernel_on_gpu():
    logits = torch.randn(1000, 512, device="cuda", dtype=torch.bfloat16)
    w, ids = route(logits, 10, backend="triton")
    wr, ir = route_reference(logits, 10)
    assert torch.equal(ids, ir)
    torch.testing.assert_close(w, wr)


def test_offsets_past_int32():
    # S * H = 110_000 * 10 * 2048 > 2^31: rows near the end only land right with int64 offsets.
    t, e, k, h, i = 110_000, 64, 10, 2048, 128
    x = torch.randn(t, h, device="cuda", dtype=torch.bfloat16)
    ids = torch.randint(0, e, (t, 1), device="cuda") + torch.arange(k, device="cuda")  # distinct per row
    ids = (ids % e).to(torch.int32)
    tw = torch.rand(t, k, device="cuda")
    w = _weights(e, h, i, torch.bfloat16)
    out = moe_experts(x, w, ids, tw, backend="triton", validate=False)
    tail = slice(t - 8, t)
    ref = moe_experts(x[tail], w, ids[tail], tw[tail], backend="torch")
    err = (out[tail].float() - ref.float()).abs().max() / ref.float().abs().max()
    assert err <= TOL[torch.bfloat16]


def test_transformers_model_on_gpu_matches_eager():
    import transformers

    import qnext_lab  # noqa: F401

    cfg = transformers.Qwen3MoeConfig(
        vocab_size=128,
        hidden_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=64,
        intermediate_size=512,
        moe_intermediate_size=96,
        num_experts=64,
        num_experts_per_tok=8,
    )
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(cfg, experts_implementation="eager")
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "experts" in name:
                p.normal_(0, 0.05)
    model = model.to("cuda").eval()
    ids = torch.randint(0, 128, (2, 33), device="cuda")
    with torch.no_grad():
        # fp32: greedy tokens must agree exactly (bf16 eager sums the k experts in bf16, qnext in fp32).
        gen_ref = model.generate(ids[:1, :8], max_new_tokens=8, do_sample=False)
        model.set_experts_implementation("qnext")
        gen = model.generate(ids[:1, :8], max_new_tokens=8, do_sample=False)
        assert torch.equal(gen, gen_ref)
        model = model.to(torch.bfloat16)
        got = model(ids).logits.float()
        model.set_experts_implementation("eager")
        ref = model(ids).logits.float()
    assert (got - ref).abs().max() <= 0.05 * ref.abs().max()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
@pytest.mark.parametrize("layout", ["qwen3_next", "gpt_oss"])
def test_runtime_self_check_passes_on_this_gpu(dtype, layout):
    """The first-use check load()'s default path runs: it must pass here, or every user silently gets torch."""
    from qnext_lab.runtime.self_check import check_triton_path

    if layout == "qwen3_next":
        reason = check_triton_path(_weights(512, 2048, 512, dtype), "silu", 1.702, 7.0, top_k=10)
    else:
        w = _weights(32, 2880, 2880, dtype, transposed=True, interleaved=True, bias=True)
        reason = check_triton_path(w, "clamped_swiglu", 1.702, 7.0, top_k=4)
    assert reason is None, reason


def test_a_model_on_gpu_runs_triton_after_its_self_check_without_falling_back():
    import warnings

    import transformers

    import qnext_lab  # noqa: F401
    from qnext_lab.runtime import self_check

    cfg = transformers.Qwen3MoeConfig(
        vocab_size=128,
        hidden_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=64,
        intermediate_size=512,
        moe_intermediate_size=96,
        num_experts=64,
        num_experts_per_tok=8,
    )
    model = transformers.AutoModelForCausalLM.from_config(cfg, experts_implementation="qnext")
    model = model.to("cuda", torch.bfloat16).eval()
    self_check.clear_verdicts()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("error", RuntimeWarning)  # a failed self-check warns: make it fail the test
        model(torch.randint(0, 128, (1, 9), device="cuda"))
    verdicts = self_check.verdicts()
    assert len(verdicts) == 1 and list(verdicts.values()) == [None], verdicts
