"""What RoutingTrace's input checks cost: constructing, loading and viewing a Qwen3-Next-sized trace.

Every field is checked when a trace is built or loaded (dtypes, shapes, ranges before narrowing, finite
weights, distinct top-k ids per token); views (``select``, ``layer``) and ``concat`` slice already-checked
traces and skip the checks. This measures the constructor, the distinct-ids check alone (its largest part),
``save``/``load`` round trips and the views, on a synthetic trace of 48 layers x N tokens x top-10 of 512
experts (one sequence per 1,000 tokens). Medians of ``--repeats`` runs.

    PYTHONPATH=. nice -n 15 .venv/bin/python benchmarks/bench_trace_checks.py --tokens 65536
"""

from __future__ import annotations

import argparse
import datetime
import platform
import tempfile
from pathlib import Path

import torch
from measure import median_s

from qnext_lab.trace import RoutingTrace
from qnext_lab.trace.routing_trace import _distinct_in_rows

L, E, K = 48, 512, 10


def fields(num_tokens: int, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    base = torch.randint(0, E, (L, num_tokens, 1), generator=g)
    gaps = torch.randint(1, E // K, (L, num_tokens, K), generator=g)  # sum < E: distinct ids mod E
    gaps[..., 0] = 0
    ids = ((base + gaps.cumsum(-1)) % E).int()  # (L, N, K)
    weights = torch.rand(L, num_tokens, K, generator=g).sort(dim=-1, descending=True).values  # (L, N, K)
    n = torch.arange(num_tokens)
    return dict(
        topk_ids=ids,
        topk_weights=weights,
        token_ids=torch.randint(0, 151_936, (num_tokens,), generator=g),
        seq_index=(n // 1000).int(),
        position=(n % 1000).int(),
        layer_indices=list(range(L)),
        num_experts=E,
        top_k=K,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=65536)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    kw = fields(args.tokens)
    trace = RoutingTrace(**kw)
    print(
        f"# {platform.node()} ({torch.get_num_threads()} torch thread), torch {torch.__version__}, "
        f"{datetime.date.today()}; trace {L} layers x {args.tokens} tokens x top-{K} of {E} experts, "
        f"median of {args.repeats}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trace.safetensors"
        trace.save(path)
        rows = [
            ("RoutingTrace(...) with every check", lambda: RoutingTrace(**kw)),
            ("  of which distinct top-k ids per token", lambda: _distinct_in_rows(trace.topk_ids)),
            ("save", lambda: trace.save(path)),
            ("load (reads + every check)", lambda: RoutingTrace.load(path)),
            ("select(seq=3) (no re-check)", lambda: trace.select(seq=3)),
            ("layer(47) (no re-check)", lambda: trace.layer(47)),
            ("concat of the trace with itself (no re-check)", lambda: RoutingTrace.concat([trace, trace])),
        ]
        print("| operation | median (s) |\n|---|---:|")
        for name, fn in rows:
            print(f"| {name} | {median_s(fn, args.repeats):.3f} |", flush=True)


if __name__ == "__main__":
    main()
