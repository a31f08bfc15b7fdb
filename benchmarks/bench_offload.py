"""What a real offloaded run costs on the bundled model: greedy decoding with ``ql.offload`` vs without.

qnext-tiny (4 MoE layers, 32 experts, top-4, fp32 on the CPU) answers one prompt greedily; with ``offload`` each
layer keeps ``slots`` experts in its slot buffers and reads misses from a memory-mapped safetensors file. Reports
tokens/s (median of ``--repeats``), the loads and bytes moved, the hit rate, and checks that the tokens equal the
run without offload and the loads equal ``expert_cache``'s misses on the run's trace.

    PYTHONPATH=. nice -n 15 /work/venv/bin/python benchmarks/bench_offload.py
"""

from __future__ import annotations

import argparse

from measure import machine_line, median_s

import qnext_lab as ql

PROMPT = "What is 4789 + 3564?"


def timed(model, tok, n: int, repeats: int):
    """Median seconds of ``repeats`` greedy runs, and the last run's Generation."""
    runs = []
    seconds = median_s(lambda: runs.append(ql.generate(model, tok, PROMPT, thinking=True, max_new_tokens=n)), repeats)
    return seconds, runs[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--slots", default="4,8,16,32")
    args = ap.parse_args()
    print(machine_line())
    model, tok = ql.load("tiny")
    timed(model, tok, 8, 1)  # warm-up
    base, ref = timed(model, tok, args.tokens, args.repeats)
    n = len(ref.token_ids)
    print(f"# {n} tokens generated; without offload {n / base:.0f} tokens/s")
    print("| slots of 32 | tokens/s | vs no offload | loads | MiB moved | hit rate | same tokens | loads = simulated |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |")
    for slots in map(int, args.slots.split(",")):
        with ql.offload(model, slots):
            t, g = timed(model, tok, args.tokens, args.repeats)
        with ql.offload(model, slots) as check:
            traced = ql.generate(model, tok, PROMPT, thinking=True, max_new_tokens=args.tokens, capture=True)
        sim = ql.expert_cache(traced.trace, slots)
        same = g.token_ids == ref.token_ids
        equal = list(check.misses.values()) == sim["misses"].tolist()
        loads, requests = sum(check.misses.values()), sum(check.requests.values())
        print(
            f"| {slots} | {n / t:.0f} | {base / t:.2f}x | {loads} | {check.bytes_moved / 2**20:.1f} | "
            f"{1 - loads / requests:.1%} | {same} | {equal} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
