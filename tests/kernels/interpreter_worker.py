"""Runs the Triton kernels under Triton's CPU interpreter and prints one JSON line of results.

Started by ``test_triton_interpreter.py`` in a subprocess with ``TRITON_INTERPRET=1`` and
``QNEXT_LAB_BACKEND=triton``: the interpreter has to be on before triton is imported, and a subprocess
keeps that setting out of every other test. Each case compares a kernel with its pure-torch reference
and reports ``{"exact": bool, "max_err": float, "scale": float}`` (or ``{"error": "..."}``).
"""

import json
import os
import sys
import traceback

import torch

from qnext_lab.kernels import (
    ExpertWeights,
    align_block_size,
    align_reference,
    down_combine,
    down_reference,
    gate_up,
    gate_up_reference,
    moe_forward,
    pick_config,
    route,
    route_reference,
)

# Odd shapes from the issue: T in {1, 7, 129}, E in {8, 64, 512}, k in {1, 2, 8, 10}; H, I not powers of two.
ROUTING = [
    (1, 8, 1),
    (7, 8, 2),
    (129, 8, 8),
    (1, 64, 10),
    (7, 64, 8),
    (129, 64, 2),
    (1, 512, 10),
    (7, 512, 8),
    (129, 512, 10),
]
GEMM = [  # (T, E, k, H, I, dtype, decode_path)
    (1, 512, 10, 72, 40, "float32", None),
    (7, 64, 8, 72, 40, "float32", False),
    (129, 8, 2, 40, 24, "float32", None),
    (7, 8, 1, 72, 40, "float16", None),
    (33, 8, 2, 40, 24, "float16", None),
    (3, 64, 10, 24, 20, "float16", True),
]


def _err(a: torch.Tensor, b: torch.Tensor) -> dict:
    a, b = a.float(), b.float()
    return {
        "exact": bool(torch.equal(a, b)),
        "max_err": float((a - b).abs().max()) if a.numel() else 0.0,
        "scale": float(b.abs().max()) if b.numel() else 0.0,
    }


def _weights(e: int, h: int, i: int, dtype: torch.dtype, **layout) -> ExpertWeights:
    g = torch.Generator().manual_seed(e * 1000 + h + i)
    transposed = layout.get("transposed", False)
    w1 = torch.randn(e, 2 * i, h, generator=g) / h**0.5
    w2 = torch.randn(e, h, i, generator=g) / i**0.5
    if transposed:
        w1, w2 = w1.transpose(1, 2).contiguous(), w2.transpose(1, 2).contiguous()
    bias = layout.get("bias", False)
    return ExpertWeights(
        w1.to(dtype),
        w2.to(dtype),
        (torch.randn(e, 2 * i, generator=g) * 0.1).to(dtype) if bias else None,
        (torch.randn(e, h, generator=g) * 0.1).to(dtype) if bias else None,
        transposed=transposed,
        interleaved=layout.get("interleaved", False),
    )


def routing_cases(out: dict) -> None:
    for t, e, k in ROUTING:
        for dtype in ("float32", "float16", "bfloat16"):
            if dtype != "float32" and t != 7:
                continue
            logits = torch.randn(t, e, generator=torch.Generator().manual_seed(t * e + k)).to(getattr(torch, dtype))
            for renorm in (True, False):
                w, ids = route(logits, k, renorm)
                wr, ir = route_reference(logits, k, renorm)
                res = _err(w, wr)
                res["ids_equal"] = bool(torch.equal(ids, ir)) and ids.dtype == torch.int32 and w.dtype == torch.float32
                res["topk_ids_equal"] = bool(torch.equal(ids.long(), torch.topk(logits.float().softmax(-1), k).indices))
                out[f"routing-T{t}-E{e}-k{k}-{dtype}-renorm{int(renorm)}"] = res
    # Ties: equal logits must pick the lower expert index, like a stable descending sort.
    logits = torch.tensor(
        [[1.0, 2.0, 2.0, 2.0, 0.0, 2.0, -1.0, 2.0], [0.0] * 8, [3.0, 3.0, 1.0, 1.0, 1.0, 3.0, 0.0, 0.0]]
    )
    w, ids = route(logits, 3)
    wr, ir = route_reference(logits, 3)
    res = _err(w, wr)
    res["ids_equal"] = bool(torch.equal(ids, ir))
    res["ids"] = ids.tolist()
    res["values_match_topk"] = bool(
        torch.allclose(
            w, torch.topk(logits.softmax(-1), 3).values / torch.topk(logits.softmax(-1), 3).values.sum(-1, keepdim=True)
        )
    )
    out["routing-ties"] = res


def align_cases(out: dict) -> None:
    for t, e, k in ROUTING:
        g = torch.Generator().manual_seed(t + e + k)
        ids = torch.stack([torch.randperm(e, generator=g)[:k] for _ in range(t)]).to(
            torch.int32
        )  # (T, k) distinct per row
        for block in (16, 64):
            for decode in (False, True):
                a = align_block_size(ids, e, block, decode_path=decode)
                r = align_reference(ids, e, block, decode_path=decode)
                out[f"align-T{t}-E{e}-k{k}-BM{block}-decode{int(decode)}"] = {
                    "exact": bool(
                        torch.equal(a.sorted_ids, r.sorted_ids)
                        and torch.equal(a.expert_ids, r.expert_ids)
                        and torch.equal(a.num_padded, r.num_padded)
                    ),
                    "max_err": 0.0,
                    "scale": 1.0,
                }


def gemm_cases(out: dict) -> None:
    for t, e, k, h, i, dtype_name, decode in GEMM:
        dtype = getattr(torch, dtype_name)
        g = torch.Generator().manual_seed(t * 7 + e)
        x = torch.randn(t, h, generator=g).to(dtype)
        ids = torch.stack([torch.randperm(e, generator=g)[:k] for _ in range(t)]).to(torch.int32)
        tw = torch.rand(t, k, generator=g)
        w = _weights(e, h, i, dtype)
        cfg = pick_config(t * k, e, i, h)
        a = align_block_size(ids, e, cfg.block_m, decode_path=decode)
        hid = gate_up(x, w, a, k)
        ref_h = gate_up_reference(x, w, ids)
        name = f"T{t}-E{e}-k{k}-H{h}-I{i}-{dtype_name}-decode{a.decode_path}"
        out[f"gemm1-{name}"] = _err(hid, ref_h)
        y = down_combine(ref_h, w, a, tw)
        y2 = down_combine(ref_h, w, a, tw)
        res = _err(y, down_reference(ref_h, w, ids, tw))
        res["deterministic"] = bool(torch.equal(y, y2))
        out[f"gemm2-{name}"] = res
    # GPT-OSS layout: transposed, interleaved gate/up, biases, clamped SwiGLU.
    t, e, k, h, i = 7, 8, 2, 40, 24
    x = torch.randn(t, h) * 4
    ids = torch.stack([torch.randperm(e)[:k] for _ in range(t)]).to(torch.int32)
    tw = torch.rand(t, k)
    w = _weights(e, h, i, torch.float32, transposed=True, interleaved=True, bias=True)
    a = align_block_size(ids, e, pick_config(t * k, e, i, h).block_m)
    hid = gate_up(x, w, a, k, gate="clamped_swiglu", alpha=1.702, limit=1.0)
    ref_h = gate_up_reference(x, w, ids, gate="clamped_swiglu", alpha=1.702, limit=1.0)
    out["gemm1-gpt_oss_layout"] = _err(hid, ref_h)
    y = down_combine(ref_h, w, a, tw)
    res = _err(y, down_reference(ref_h, w, ids, tw))
    res["deterministic"] = bool(torch.equal(y, down_combine(ref_h, w, a, tw)))
    out["gemm2-gpt_oss_layout"] = res


def moe_cases(out: dict) -> None:
    t, e, k, h, i = 7, 64, 8, 72, 40
    x = torch.randn(t, h)
    logits = torch.randn(t, e)
    w = _weights(e, h, i, torch.float32)
    res = moe_forward(x, logits, w, k)
    ref = moe_forward(x, logits, w, k, backend="torch")
    r = _err(res.output, ref.output)
    r["backend"] = res.backend
    r["padded"] = int(res.align.num_padded)
    out["moe_forward-T7-E64-k8"] = r


def runtime_cases(out: dict) -> None:
    import transformers
    from families import family_configs

    import qnext_lab  # noqa: F401  registers "qnext"

    configs = family_configs()
    # Families whose experts differ in what the kernels see: plain SiLU (Qwen3-MoE; Mixtral, OLMoE and
    # DeepSeek-V3 store the same layout), GPT-OSS's layout and gate, and Qwen3-Next itself.
    for name in ("qwen3_moe", "gpt_oss", "qwen3_next"):
        torch.manual_seed(0)
        model = transformers.AutoModelForCausalLM.from_config(configs[name], experts_implementation="eager").eval()
        for pname, p in model.named_parameters():
            if "experts" in pname:
                torch.nn.init.normal_(p, std=0.1)
        ids = torch.randint(0, configs[name].vocab_size, (2, 9), generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            ref = model(ids).logits
            model.set_experts_implementation("qnext")
            got = model(ids).logits
        out[f"runtime-{name}"] = _err(got, ref)
        if name == "qwen3_moe":
            with torch.no_grad():
                gen = model.generate(ids[:1], max_new_tokens=4, do_sample=False)
                model.set_experts_implementation("eager")
                gen_ref = model.generate(ids[:1], max_new_tokens=4, do_sample=False)
            out["runtime-generate-qwen3_moe"] = {"exact": bool(torch.equal(gen, gen_ref)), "max_err": 0.0, "scale": 1.0}
    # An explicit triton backend refuses what the kernels cannot do, with a message saying what to do.
    model = transformers.AutoModelForCausalLM.from_config(configs["qwen3_moe"], experts_implementation="qnext")
    try:
        model(torch.zeros(1, 3, dtype=torch.long)).logits.sum().backward()
        out["runtime-refuses-grad"] = {"error": "no error raised"}
    except NotImplementedError as exc:
        out["runtime-refuses-grad"] = {"exact": True, "max_err": 0.0, "scale": 1.0, "message": str(exc)}


def selfcheck_cases(out: dict) -> None:
    """The runtime's first-use self-check run on the real kernels: every layout the runtime meets must pass."""
    from qnext_lab.runtime.self_check import check_triton_path, verdicts

    layouts = {  # (E, k, H, I, dtype, layout, gate): Qwen-style, fp16, GPT-OSS-style, many experts
        "silu-float32": (8, 2, 40, 24, torch.float32, {}, "silu"),
        "silu-float16": (16, 4, 40, 24, torch.float16, {}, "silu"),
        "gpt_oss-float32": (
            8,
            2,
            40,
            24,
            torch.float32,
            dict(transposed=True, interleaved=True, bias=True),
            "clamped_swiglu",
        ),
        "silu-E512-k10-float32": (512, 10, 24, 20, torch.float32, {}, "silu"),
    }
    for name, (e, k, h, i, dtype, layout, gate) in layouts.items():
        reason = check_triton_path(_weights(e, h, i, dtype, **layout), gate, 1.702, 7.0, k)
        out[f"selfcheck-{name}"] = {"passed": reason is None, "reason": reason}
    out["selfcheck-verdicts"] = {"count": len(verdicts()), "failed": [r for r in verdicts().values() if r]}


def main() -> None:
    if os.environ.get("TRITON_INTERPRET") != "1" or os.environ.get("QNEXT_LAB_BACKEND") != "triton":
        raise SystemExit("run with TRITON_INTERPRET=1 QNEXT_LAB_BACKEND=triton")
    groups = sys.argv[1:] or ["routing", "align", "gemm", "moe", "runtime", "selfcheck"]
    torch.manual_seed(0)  # every case reproducible
    out: dict = {}
    for group in groups:
        try:
            globals()[f"{group}_cases"](out)
        except Exception:  # report, so the parent test names the failing group instead of a bare exit code
            out[f"{group}-crashed"] = {"error": traceback.format_exc()}
    print("RESULTS " + json.dumps(out))


if __name__ == "__main__":
    main()
