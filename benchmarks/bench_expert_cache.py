"""What expert_cache costs at Qwen3-Next scale: 48 MoE layers x 10^6 tokens x top-10 of 512 experts.

Synthetic routing (not a model's): each layer's tokens choose 10 distinct experts of 512 by Plackett-Luce
sampling with Zipf-skewed popularity (exponent ``--skew``, a different permutation per layer): each rank is
drawn from the popularity restricted to the experts not yet chosen (rejection: redraw a token whose draw repeats
an earlier rank), the distribution Gumbel top-k samples. The whole model is replayed: every layer is generated,
wrapped in a one-layer RoutingTrace and replayed by ``expert_cache`` under each policy (one layer in memory at a
time: ~80 MB of ids and weights, where 48 layers at once would hold ~4 GB), and each replay is timed. The table
gives the median seconds per layer and the total over all layers, per policy. Hit rates describe this
synthetic routing only; the timings are the point.

    PYTHONPATH=. nice -n 15 /work/venv/bin/python benchmarks/bench_expert_cache.py --layers 48
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch
from measure import machine_line

from qnext_lab.analysis import expert_cache
from qnext_lab.trace import RoutingTrace

E, K = 512, 10


def layer_ids(tokens: int, skew: float, rng: np.random.Generator) -> np.ndarray:
    """(tokens, K) int32 distinct expert ids, rank 0 first (Plackett-Luce over Zipf weights, see module doc)."""
    perm = rng.permutation(E)  # which expert is the i-th most popular in this layer
    cdf = np.cumsum(1.0 / np.arange(1, E + 1) ** skew)
    cdf /= cdf[-1]
    ids = np.empty((tokens, K), np.int32)
    for rank in range(K):
        todo = np.arange(tokens)
        while todo.size:
            draw = perm[np.minimum(np.searchsorted(cdf, rng.random(todo.size), side="right"), E - 1)]
            fresh = ~(ids[todo, :rank] == draw[:, None]).any(axis=1)
            ids[todo[fresh], rank] = draw[fresh]
            todo = todo[~fresh]
    return ids


def one_layer(ids: np.ndarray, layer: int) -> RoutingTrace:
    tokens = ids.shape[0]
    return RoutingTrace(
        topk_ids=torch.from_numpy(ids)[None],
        topk_weights=torch.full((1, tokens, K), 1.0 / K),
        token_ids=torch.zeros(tokens, dtype=torch.int64),
        seq_index=torch.zeros(tokens, dtype=torch.int32),
        position=torch.arange(tokens, dtype=torch.int32),
        layer_indices=[layer],
        num_experts=E,
        top_k=K,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=1_000_000)
    ap.add_argument("--layers", type=int, default=48)
    ap.add_argument("--slots", type=int, default=256)
    ap.add_argument("--skew", type=float, default=0.8)
    ap.add_argument("--policies", default="lru,lfu,static,belady")
    args = ap.parse_args()
    policies = args.policies.split(",")
    print(machine_line())
    rng = np.random.default_rng(0)
    seconds: dict[str, list[float]] = {p: [] for p in policies}
    hits = dict.fromkeys(policies, 0)
    build = 0.0
    t_start = time.perf_counter()
    for layer in range(args.layers):
        t0 = time.perf_counter()
        trace = one_layer(layer_ids(args.tokens, args.skew, rng), layer)
        build += time.perf_counter() - t0
        for policy in policies:
            t0 = time.perf_counter()
            df = expert_cache(trace, args.slots, policy)
            seconds[policy].append(time.perf_counter() - t0)
            hits[policy] += int(df["hits"].sum())
        print(f"# layer {layer}: " + ", ".join(f"{p} {seconds[p][-1]:.2f} s" for p in policies), flush=True)
        del trace
    requests = args.tokens * K * args.layers
    print(
        f"# {args.layers} layers x {args.tokens:,} tokens x top-{K} of {E}; generating the routing took {build:.0f} s, "
        f"everything {time.perf_counter() - t_start:.0f} s; load average now {os.getloadavg()[0]:.1f}"
    )
    print(f"| policy | slots | hit rate | median s per layer | requests/s | {args.layers} layers, s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for policy in policies:
        med = statistics.median(seconds[policy])
        print(
            f"| {policy} | {args.slots} | {hits[policy] / requests:.1%} | {med:.2f} | "
            f"{args.tokens * K / med / 1e6:.1f} M | {sum(seconds[policy]):.0f} |"
        )


if __name__ == "__main__":
    main()
