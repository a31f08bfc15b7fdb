"""Claim: on CPU the "qnext" torch runtime is at least as fast as every transformers experts backend.

Measures one MoE experts layer (the ``experts`` module of a Qwen3-Next sparse block, routing given) at two
shapes that fit a small CPU machine (403 MB of fp32 weights each): Qwen3-Next's routing, E = 512 experts, top-10,
with H and I scaled by 1/4 (H = 512, I = 128), and E = 128, top-10, H = 1024, I = 256; each at 1 and 2 torch
threads.
Backends: transformers ``eager``, ``grouped_mm``, ``batched_mm`` and ``qnext`` (QNEXT_LAB_BACKEND=torch),
all called through the same ``ExpertsInterface`` dispatch a model uses. Token counts 1..4096; every
repeat draws a fresh routing, rotates the order of the backends and flushes the caches before each call,
so no backend inherits warm experts from another; medians reported (and minima, a second view on a
machine shared with other jobs).
``batched_mm`` copies one weight matrix per (token, slot) and is skipped where that copy would exceed
``--max-gather-gb``.

    nice -n 15 python benchmarks/bench_moe_cpu.py                 # full sweep: both shapes, 1 and 2 threads
    nice -n 15 python benchmarks/bench_moe_cpu.py --shapes e128-h1024 --threads 2 --tokens 64 256 --repeats 15
    nice -n 15 python benchmarks/bench_moe_cpu.py --generate tiny   # greedy decode tokens/s of a whole model
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
os.environ.setdefault("QNEXT_LAB_BACKEND", "torch")

import torch
import transformers
from transformers.models.qwen3_next.modeling_qwen3_next import Qwen3NextExperts

import qnext_lab

IMPLS = ("eager", "grouped_mm", "batched_mm", "qnext")
TOKENS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)


def build(hidden: int, inter: int, experts: int, top_k: int) -> Qwen3NextExperts:
    cfg = transformers.Qwen3NextConfig(
        hidden_size=hidden, moe_intermediate_size=inter, num_experts=experts, num_experts_per_tok=top_k
    )
    module = Qwen3NextExperts(cfg)
    with torch.no_grad():
        module.gate_up_proj.normal_(0, hidden**-0.5)
        module.down_proj.normal_(0, inter**-0.5)
    return module.requires_grad_(False).eval()


def routing(tokens: int, experts: int, top_k: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    probs = torch.randn(tokens, experts, generator=g).softmax(-1)
    w, ids = torch.topk(probs, top_k)  # (T, k): Qwen3-Next's router (softmax, top-k, renorm)
    return ids, w / w.sum(-1, keepdim=True)


def time_call(module: torch.nn.Module, impl: str, x, ids, w) -> float:
    module.config._experts_implementation = impl
    start = time.perf_counter()
    module(x, ids, w)
    return time.perf_counter() - start


def generate_speed(path: str, new_tokens: int, repeats: int) -> None:
    """Greedy decode speed of a whole model (default: the bundled one) under each experts backend."""
    model, tok = qnext_lab.load(path)
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "What is 478 + 356?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )["input_ids"]
    print(f"# {path}: greedy generate, {new_tokens} new tokens, prompt {prompt.shape[1]} tokens, medians of {repeats}")
    print("| backend | tokens/s |\n|---|---:|")
    speeds = {i: [] for i in IMPLS}
    with torch.no_grad():
        for rep in range(repeats + 1):
            for impl in IMPLS[rep % len(IMPLS) :] + IMPLS[: rep % len(IMPLS)]:
                model.set_experts_implementation(impl)
                start = time.perf_counter()
                model.generate(prompt, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False)
                if rep:  # the first round warms up
                    speeds[impl].append(new_tokens / (time.perf_counter() - start))
    for impl in IMPLS:
        print(f"| {impl} | {statistics.median(speeds[impl]):.1f} |")


SHAPES = {  # name -> (experts, top_k, hidden, inter)
    "qnext-quarter": (512, 10, 512, 128),  # Qwen3-Next's routing, H and I scaled by 1/4 (403 MB of weights)
    "e128-h1024": (128, 10, 1024, 256),  # the shape a new user tried (issue 12): 403 MB as well
}


def measure(
    module,
    impls_all,
    tokens: int,
    experts: int,
    top_k: int,
    hidden: int,
    inter: int,
    repeats: int,
    max_gather_gb: float,
) -> dict:
    per_slot_bytes = 3 * hidden * inter * 4
    x = torch.randn(tokens, hidden)
    ids, w = routing(tokens, experts, top_k, seed=tokens)
    impls = [
        i for i in impls_all if not (i == "batched_mm" and tokens * top_k * per_slot_bytes > max_gather_gb * 2**30)
    ]
    with torch.no_grad():
        ref = None
        for impl in impls:  # warm-up, and a correctness check against the first backend (eager)
            module.config._experts_implementation = impl
            out = module(x, ids, w)
            ref = out if ref is None else ref
            if (out - ref).abs().max() > 1e-4 * max(1.0, ref.abs().max()):
                sys.exit(f"{impl} disagrees with {impls[0]} at {tokens} tokens")
        times = {i: [] for i in impls}
        flush = torch.empty(64 * 2**20 // 4)  # 64 MB, larger than the last-level cache
        for rep in range(repeats):
            # Fresh routing each repeat and a rotating order, with caches flushed before every call:
            # no backend gets the experts the previous one just pulled into cache, as in a real model
            # where 48 layers' experts pass between two visits to this one.
            ids_r, w_r = routing(tokens, experts, top_k, seed=1000 * tokens + rep)
            for impl in impls[rep % len(impls) :] + impls[: rep % len(impls)]:
                flush.fill_(rep)
                times[impl].append(time_call(module, impl, x, ids_r, w_r))
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", nargs="+", choices=sorted(SHAPES), default=sorted(SHAPES))
    ap.add_argument("--tokens", type=int, nargs="+", default=list(TOKENS))
    ap.add_argument("--repeats", type=int, default=0, help="0: 15 below 64 tokens, 9 below 256, 5 below 2048, else 3")
    ap.add_argument("--max-gather-gb", type=float, default=3.0)
    ap.add_argument("--impls", nargs="+", choices=IMPLS, default=list(IMPLS))
    ap.add_argument("--json", default="", help="also write the results to this file")
    # Both 1 and 2 threads by default: one is steadiest on a small shared machine, two is a laptop's default.
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--generate", default="", help="instead: decode speed of this model ('tiny' or a directory)")
    args = ap.parse_args()

    if args.generate:
        torch.set_num_threads(args.threads[0])
        generate_speed(args.generate, new_tokens=48, repeats=args.repeats or 5)
        return
    impls = [i for i in IMPLS if i in args.impls]
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"transformers {transformers.__version__}, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, fp32"
    )
    rows = []
    for shape in args.shapes:
        experts, top_k, hidden, inter = SHAPES[shape]
        torch.manual_seed(0)
        module = build(hidden, inter, experts, top_k)
        for threads in args.threads:
            torch.set_num_threads(threads)
            print(f"\n## {shape}: E={experts} k={top_k} H={hidden} I={inter}, {threads} thread(s)")
            print(
                "| tokens | " + " | ".join(f"{i} (ms)" for i in impls) + " | best other | qnext vs best other, median "
                "| same, min |"
            )
            print("|---:|" + "---:|" * len(impls) + "---|---:|---:|")
            for tokens in args.tokens:
                repeats = args.repeats or (15 if tokens < 64 else 9 if tokens < 256 else 5 if tokens < 2048 else 3)
                times = measure(module, impls, tokens, experts, top_k, hidden, inter, repeats, args.max_gather_gb)
                med = {i: statistics.median(t) * 1e3 for i, t in times.items()}
                low = {
                    i: min(t) * 1e3 for i, t in times.items()
                }  # least disturbed run: a second view on a busy machine
                best = min((i for i in med if i != "qnext"), key=med.get)
                best_low = min(v for i, v in low.items() if i != "qnext")
                rows.append(
                    {
                        "shape": shape,
                        "threads": threads,
                        "tokens": tokens,
                        "median_ms": med,
                        "min_ms": low,
                        "repeats": repeats,
                    }
                )
                cells = [f"{med[i]:.2f}" if i in med else "skipped" for i in impls]
                print(
                    f"| {tokens} | " + " | ".join(cells) + f" | {best} | {med[best] / med['qnext']:.2f}x "
                    f"| {best_low / low['qnext']:.2f}x |",
                    flush=True,
                )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
