"""Claim: on an H200 the "qnext" Triton experts reach >= 80% of the HBM roofline at decode and at least
grouped_mm's speed at prefill.

One experts layer, bf16, at Qwen3-Next's shape (E=512, k=10, H=2048, I=512) and a Qwen3-MoE-like one
(E=128, k=8, H=2048, I=768), M (tokens) in 1..16384. Every timed call sees a fresh routing (a ring of
pre-drawn routings, so drawing them is not timed); timing is ``triton.testing.do_bench`` (median).
Compared with transformers' ``grouped_mm``, ``batched_mm`` (skipped where its per-slot weight copy does
not fit) and ``eager`` (skipped above 4096 tokens: a Python loop over experts). Reported: median time,
% of the HBM roofline for the bytes of the experts actually touched (decode), TFLOP/s (prefill).
Without a CUDA device it says so and exits 0.

    python benchmarks/bench_moe_gpu.py                      # full table
    python benchmarks/bench_moe_gpu.py --tokens 1 16 4096 --shapes qwen3_next
    python benchmarks/bench_moe_gpu.py --sweep               # try tile configs (to edit kernels/tuning.py)
"""

import argparse
import itertools
import json
import statistics
import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import torch

SHAPES = {"qwen3_next": (512, 10, 2048, 512), "qwen3_moe_like": (128, 8, 2048, 768)}  # E, k, H, I
TOKENS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384)
IMPLS = ("qnext", "grouped_mm", "batched_mm", "eager")


def build(experts: int, top_k: int, hidden: int, inter: int):
    import transformers
    from transformers.models.qwen3_next.modeling_qwen3_next import Qwen3NextExperts

    cfg = transformers.Qwen3NextConfig(
        hidden_size=hidden, moe_intermediate_size=inter, num_experts=experts, num_experts_per_tok=top_k
    )
    with torch.device("cuda"):
        module = Qwen3NextExperts(cfg)
    with torch.no_grad():
        module.gate_up_proj.normal_(0, hidden**-0.5)
        module.down_proj.normal_(0, inter**-0.5)
    return module.to(torch.bfloat16).requires_grad_(False).eval()


def routings(tokens: int, experts: int, top_k: int, count: int):
    out = []
    for seed in range(count):
        g = torch.Generator(device="cuda").manual_seed(seed)
        w, ids = torch.topk(torch.randn(tokens, experts, device="cuda", generator=g).softmax(-1), top_k)
        out.append((ids, (w / w.sum(-1, keepdim=True)).to(torch.bfloat16)))
    return out


def bench(module, impl: str, x, ring) -> float:
    from triton.testing import do_bench

    module.config._experts_implementation = impl
    cycle = itertools.cycle(ring)

    def call():
        ids, w = next(cycle)  # fresh routing every call: no expert stays hot in L2 by accident
        module(x, ids, w)

    return do_bench(call, warmup=25, rep=200, return_mode="median")  # ms


def sweep(args) -> None:
    from triton.testing import do_bench

    from qnext_lab.kernels import GemmConfig, align_block_size, down_combine, gate_up
    from qnext_lab.runtime.experts import triton_plan

    experts, top_k, hidden, inter = SHAPES["qwen3_next"]
    module = build(experts, top_k, hidden, inter)
    weights, gate, _, _ = triton_plan(module)
    for tokens in args.tokens:
        x = torch.randn(tokens, hidden, device="cuda", dtype=torch.bfloat16)
        ids, w = routings(tokens, experts, top_k, 1)[0]
        results = []
        for bm, bn, bk, warps, stages in itertools.product((16, 32, 64, 128), (64, 128), (64, 128), (4, 8), (3, 4)):
            cfg = GemmConfig(bm, bn, bk, warps, stages)
            align = align_block_size(ids, experts, bm, validate=False)
            try:
                ms = do_bench(
                    lambda x=x, align=align, w=w, cfg=cfg: down_combine(
                        gate_up(x, weights, align, top_k, config=cfg), weights, align, w, config=cfg
                    ),
                    warmup=10,
                    rep=50,
                )
            except Exception as exc:  # out of shared memory etc.: not a candidate
                print(f"  {cfg} failed: {type(exc).__name__}")
                continue
            results.append((ms, cfg))
        results.sort(key=lambda r: r[0])
        print(f"M={tokens}: best {results[0][1]} {results[0][0]:.3f} ms; next {[f'{m:.3f}' for m, _ in results[1:4]]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    ap.add_argument("--tokens", type=int, nargs="+", default=list(TOKENS))
    ap.add_argument("--impls", nargs="+", default=list(IMPLS), choices=IMPLS)
    ap.add_argument("--hbm-tbps", type=float, default=4.8, help="HBM bandwidth of the GPU (H200: 4.8 TB/s)")
    ap.add_argument("--max-batched-gb", type=float, default=40.0)
    ap.add_argument("--sweep", action="store_true")
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("No CUDA device: the GPU benchmark was not run (it needs an NVIDIA GPU with triton).")
        return
    import os

    # explicit triton: if the runtime's first-use self-check fails, raise instead of timing the torch fallback
    os.environ["QNEXT_LAB_BACKEND"] = "triton"
    import qnext_lab  # noqa: F401  registers "qnext"
    from qnext_lab.runtime.self_check import verdicts

    if args.sweep:
        sweep(args)
        return
    print(
        f"# {torch.cuda.get_device_name()}, torch {torch.__version__}, "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, bf16, do_bench median"
    )
    rows = []
    for shape in args.shapes:
        experts, top_k, hidden, inter = SHAPES[shape]
        module = build(experts, top_k, hidden, inter)
        expert_bytes = 3 * hidden * inter * 2
        print(f"\n## {shape}: E={experts} k={top_k} H={hidden} I={inter}")
        print(
            "| M | "
            + " | ".join(f"{i} (ms)" for i in args.impls)
            + " | qnext % HBM roofline | qnext TFLOP/s | qnext vs grouped_mm |"
        )
        print("|---:|" + "---:|" * (len(args.impls) + 3))
        for tokens in args.tokens:
            x = torch.randn(tokens, hidden, device="cuda", dtype=torch.bfloat16)
            ring = routings(tokens, experts, top_k, 8)
            with torch.no_grad():
                module.config._experts_implementation = "qnext"
                got = module(x, *ring[0])
                module.config._experts_implementation = "grouped_mm"
                ref = module(x, *ring[0])
                err = float((got.float() - ref.float()).abs().max() / ref.float().abs().max())
                times = {}
                for impl in args.impls:
                    slots_bytes = tokens * top_k * expert_bytes
                    if impl == "batched_mm" and slots_bytes > args.max_batched_gb * 2**30:
                        continue
                    if impl == "eager" and tokens > 4096:
                        continue
                    times[impl] = bench(module, impl, x, ring)
            touched = statistics.mean(int(torch.unique(ids).numel()) for ids, _ in ring)
            roofline_ms = touched * expert_bytes / (args.hbm_tbps * 1e12) * 1e3
            flops = 2 * tokens * top_k * 3 * hidden * inter
            q = times["qnext"]
            row = {
                "shape": shape,
                "tokens": tokens,
                "ms": times,
                "rel_err_vs_grouped_mm": err,
                "hbm_roofline_pct": 100 * roofline_ms / q,
                "tflops": flops / (q * 1e-3) / 1e12,
            }
            rows.append(row)
            cells = [f"{times[i]:.3f}" if i in times else "skipped" for i in args.impls]
            vs = f"{times['grouped_mm'] / q:.2f}x" if "grouped_mm" in times else "-"
            print(
                f"| {tokens} | "
                + " | ".join(cells)
                + f" | {row['hbm_roofline_pct']:.0f}% | {row['tflops']:.1f} | {vs} |",
                flush=True,
            )
            if err > 2e-2:
                print(f"  WARNING: qnext differs from grouped_mm by {err:.3g} (relative) at M={tokens}")
    print(f"\nself-check verdicts (None = the Triton path matched the torch reference): {verdicts()}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
