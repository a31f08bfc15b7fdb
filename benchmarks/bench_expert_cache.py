"""What expert_cache costs at Qwen3-Next scale: replaying 10^6 tokens x top-10 of 512 experts per MoE layer.

A synthetic trace of ``--layers`` MoE layers x ``--tokens`` tokens, each token choosing 10 distinct experts of
512 with Zipf-skewed popularity (exponent ``--skew``, a different permutation per layer; sampled without
replacement via Gumbel top-k). Each policy replays it at ``--slots`` slots; the time per layer is measured once
per policy and multiplied by 48 for the whole model (every layer is the same work; the replay runs one layer at
a time, so 48 layers cost 48 x one layer, and the memory of one layer's requests is what it holds). The hit
rates describe this synthetic routing only; the timings are the point.

    PYTHONPATH=. nice -n 15 /work/venv/bin/python benchmarks/bench_expert_cache.py --tokens 1000000 --layers 2
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from measure import machine_line

from qnext_lab.analysis import expert_cache
from qnext_lab.trace import RoutingTrace

E, K, MODEL_LAYERS = 512, 10, 48


def synthetic(tokens: int, layers: int, skew: float, seed: int = 0) -> RoutingTrace:
    rng = np.random.default_rng(seed)
    logp = -skew * np.log(np.arange(1, E + 1))  # (E,) Zipf popularity
    ids = np.empty((layers, tokens, K), np.int32)
    for layer in range(layers):
        perm = rng.permutation(E)
        for start in range(0, tokens, 50_000):
            n = min(50_000, tokens - start)
            score = logp[perm] + rng.gumbel(size=(n, E))  # (n, E)
            top = np.argpartition(-score, K, axis=1)[:, :K]  # (n, K) distinct, unordered
            order = np.argsort(-np.take_along_axis(score, top, 1), axis=1)
            ids[layer, start : start + n] = np.take_along_axis(top, order, 1)
    return RoutingTrace(
        topk_ids=torch.from_numpy(ids),
        topk_weights=torch.full((layers, tokens, K), 1.0 / K),
        token_ids=torch.zeros(tokens, dtype=torch.int64),
        seq_index=torch.zeros(tokens, dtype=torch.int32),
        position=torch.arange(tokens, dtype=torch.int32),
        layer_indices=list(range(layers)),
        num_experts=E,
        top_k=K,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=1_000_000)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--slots", type=int, default=256)
    ap.add_argument("--skew", type=float, default=0.8)
    ap.add_argument("--policies", default="lru,lfu,static,belady")
    args = ap.parse_args()
    print(machine_line())
    t0 = time.perf_counter()
    trace = synthetic(args.tokens, args.layers, args.skew)
    print(
        f"# trace: {args.layers} layers x {args.tokens:,} tokens x top-{K} of {E} "
        f"({time.perf_counter() - t0:.1f} s to build and check)"
    )
    requests = args.tokens * K
    print("| policy | slots | hit rate | s per layer | requests/s | 48 layers, s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for policy in args.policies.split(","):
        t0 = time.perf_counter()
        df = expert_cache(trace, args.slots, policy)
        per_layer = (time.perf_counter() - t0) / args.layers
        hit = df["hits"].sum() / df["requests"].sum()
        print(
            f"| {policy} | {args.slots} | {hit:.1%} | {per_layer:.2f} | {requests / per_layer / 1e6:.1f} M | "
            f"{per_layer * MODEL_LAYERS:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
