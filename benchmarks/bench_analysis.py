"""Seconds per routing metric on a synthetic Qwen3-Next-sized trace: 1M tokens, 48 layers, 512 experts, top-10.

The trace is generated layer by layer in chunks (so memory stays near the trace's own ~3.8 GB): each token
picks a skewed "base" expert (repeated from the previous token 30% of the time, so repetition has
something to find) and ten distinct experts at random gaps after it; weights are sorted random
softmax-like values; token ids follow a Zipf law over Qwen's 151,936-token vocabulary; 1,000 sequences
of 1,000 tokens. Routing entropy needs (L, N, E) probabilities, so it runs on a smaller probability trace
(48 layers x 8,192 tokens x 512 experts). Medians of ``--repeats`` runs.

    PYTHONPATH=. nice -n 15 .venv/bin/python benchmarks/bench_analysis.py --tokens 1000000
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import platform
import time
from collections.abc import Callable

import torch
import transformers
from measure import median_s

from qnext_lab.analysis import (
    active_parameters,
    coactivation,
    consecutive_repetition,
    expert_load,
    label_specialization,
    load_balance,
    router_saturation,
    routing_entropy,
    vocabulary_specialization,
)
from qnext_lab.trace import RoutingTrace

L, E, K, VOCAB = 48, 512, 10, 151_936


def synthetic_ids(num_tokens: int, generator: torch.Generator, chunk: int = 1 << 18) -> torch.Tensor:
    """(N, K) int32 distinct expert ids per row, skewed over experts, correlated between neighbours."""
    popularity = 1.0 / torch.arange(1, E + 1, dtype=torch.float64) ** 0.6  # (E,) Zipf-ish expert load
    out = torch.empty(num_tokens, K, dtype=torch.int32)
    for start in range(0, num_tokens, chunk):
        n = min(chunk, num_tokens - start)
        base = torch.multinomial(popularity, n, replacement=True, generator=generator)  # (n,)
        repeat = torch.rand(n, generator=generator) < 0.3
        repeat[0] = False
        index = torch.arange(n)
        last = torch.cummax(torch.where(repeat, 0, index), 0).values  # nearest non-repeated token at or before
        base = base[last]
        gaps = torch.randint(1, E // K, (n, K), generator=generator)  # sum < E: offsets stay distinct mod E
        gaps[:, 0] = 0
        out[start : start + n] = ((base[:, None] + gaps.cumsum(1)) % E).int()
    return out


def synthetic_trace(num_tokens: int, seq_len: int, seed: int = 0) -> RoutingTrace:
    g = torch.Generator().manual_seed(seed)
    ids = torch.empty(L, num_tokens, K, dtype=torch.int32)
    weights = torch.empty(L, num_tokens, K, dtype=torch.float32)
    for layer in range(L):
        ids[layer] = synthetic_ids(num_tokens, g)
        w = torch.rand(num_tokens, K, generator=g).pow_(3)
        weights[layer] = (w / w.sum(-1, keepdim=True)).sort(dim=-1, descending=True).values
    zipf = 1.0 / torch.arange(1, VOCAB + 1, dtype=torch.float64)
    token_ids = torch.multinomial(zipf, num_tokens, replacement=True, generator=g)
    rows = torch.arange(num_tokens)
    return RoutingTrace(
        topk_ids=ids,
        topk_weights=weights,
        token_ids=token_ids,
        seq_index=(rows // seq_len).int(),
        position=(rows % seq_len).int(),
        layer_indices=list(range(L)),
        num_experts=E,
        top_k=K,
        model_name="synthetic-qwen3-next",
    )


def probability_trace(num_tokens: int, seed: int = 1) -> RoutingTrace:
    g = torch.Generator().manual_seed(seed)
    probs = torch.empty(L, num_tokens, E)
    for layer in range(L):
        probs[layer] = torch.softmax(2.0 * torch.randn(num_tokens, E, generator=g), -1)
    top = probs.topk(K, dim=-1)
    rows = torch.arange(num_tokens)
    return RoutingTrace(
        topk_ids=top.indices.int(),
        topk_weights=top.values,
        token_ids=rows,
        seq_index=rows * 0,
        position=rows,
        layer_indices=list(range(L)),
        num_experts=E,
        top_k=K,
        probs=probs,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=1_000_000)
    parser.add_argument("--prob-tokens", type=int, default=8192)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="", help="run only metrics whose name contains this text")
    args = parser.parse_args()

    start = time.perf_counter()
    trace = synthetic_trace(args.tokens, seq_len=1000)
    built = time.perf_counter() - start
    moved = trace.topk_ids.clone()  # a "second checkpoint": every third token's experts shifted by one
    moved[:, ::3] = moved[:, ::3].add_(1).remainder_(E)
    other = dataclasses.replace(trace, topk_ids=moved)  # shares every other tensor with `trace`
    domains = [f"domain{i % 5}" for i in range(trace.num_sequences)]
    probs = probability_trace(args.prob_tokens)
    config = transformers.Qwen3NextConfig()

    metrics: list[tuple[str, Callable[[], object]]] = [
        ("expert_load (all layers)", lambda: expert_load(trace)),
        ("load_balance (all layers)", lambda: load_balance(trace)),
        ("consecutive_repetition (all layers)", lambda: consecutive_repetition(trace)),
        ("coactivation (one layer)", lambda: coactivation(trace, layer=0)),
        ("vocabulary_specialization (all layers)", lambda: vocabulary_specialization(trace)),
        ("label_specialization, 5 domains per sequence (all layers)", lambda: label_specialization(trace, domains)),
        ("router_saturation (all layers)", lambda: router_saturation(trace, other)),
        (
            f"routing_entropy per token ({args.prob_tokens} tokens x 48 layers x 512 probs)",
            lambda: routing_entropy(probs),
        ),
        ("active_parameters (Qwen3-Next-80B config, meta device)", lambda: active_parameters(config)),
    ]
    print(
        f"## analysis metrics ({platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{datetime.date.today()})"
    )
    print(
        f"Synthetic trace: {args.tokens:,} tokens x {L} layers x {E} experts, top-{K} "
        f"(built in {built:.1f} s); median of {args.repeats}."
    )
    print("| metric | seconds |")
    print("| --- | --- |")
    for name, fn in metrics:
        if args.only not in name:
            continue
        print(f"| {name} | {median_s(fn, args.repeats):.2f} |", flush=True)
    frame = active_parameters(config).set_index("component")
    print(
        f"\nQwen3-Next-80B-A3B from its config alone: {frame.loc['total', 'total'] / 1e9:.2f}B total, "
        f"{frame.loc['total (non-embedding)', 'total'] / 1e9:.2f}B non-embedding, "
        f"{frame.loc['total (non-embedding)', 'active'] / 1e9:.2f}B active per token without embeddings "
        f"({frame.loc['total', 'active'] / 1e9:.2f}B with them)."
    )


if __name__ == "__main__":
    main()
