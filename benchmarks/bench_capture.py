"""Capture overhead on generation: model.generate with and without qnext_lab.capture (goal <= 5%).

Runs a small random Qwen3-Next (the size of the bundled model: hidden 128, 4 layers, 16 experts, top-2,
shared expert), greedy generation of a batch of prompts. Runs are interleaved (plain, capture, capture
with probs, plain, ...) so that load from other processes hits every variant alike; reports medians.

    nice -n 15 .venv/bin/python benchmarks/bench_capture.py --repeats 7
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import time

import torch
import transformers

import qnext_lab


def build_model(hidden: int, layers: int, experts: int, top_k: int) -> torch.nn.Module:
    config = transformers.Qwen3NextConfig(
        vocab_size=256, hidden_size=hidden, intermediate_size=2 * hidden, moe_intermediate_size=hidden // 2,
        shared_expert_intermediate_size=hidden // 2, num_hidden_layers=layers, num_attention_heads=4,
        num_key_value_heads=2, head_dim=32, num_experts=experts, num_experts_per_tok=top_k,
        linear_num_key_heads=2, linear_num_value_heads=4, linear_key_head_dim=32, linear_value_head_dim=32,
        pad_token_id=0, eos_token_id=1,
    )
    torch.manual_seed(0)
    model = transformers.Qwen3NextForCausalLM(config).eval()
    model.set_experts_implementation("qnext")
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--prompt", type=int, default=32)
    parser.add_argument("--new", type=int, default=64)
    args = parser.parse_args()

    model = build_model(hidden=128, layers=4, experts=16, top_k=2)
    torch.manual_seed(1)
    ids = torch.randint(2, 256, (args.batch, args.prompt))
    mask = torch.ones_like(ids)
    mask[0, : args.prompt // 4] = 0  # one left-padded row, as in a real batch

    def run(variant: str) -> float:
        kwargs = dict(input_ids=ids, attention_mask=mask, max_new_tokens=args.new, min_new_tokens=args.new,
                      do_sample=False)
        start = time.perf_counter()
        with torch.no_grad():
            if variant == "plain":
                model.generate(**kwargs)
            else:
                with qnext_lab.capture(model, probs=variant == "capture+probs") as trace:
                    model.generate(**kwargs)
                assert len(trace) == int(mask.sum()) + args.batch * (args.new - 1)
        return time.perf_counter() - start

    variants = ["plain", "capture", "capture+probs"]
    for v in variants:  # warm-up
        run(v)
    times: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(args.repeats):
        for v in variants:
            times[v].append(run(v))
    base = statistics.median(times["plain"])
    print(f"## capture overhead ({platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {datetime.date.today()})")
    print(f"generate: batch {args.batch}, prompt {args.prompt}, {args.new} new tokens, Qwen3-Next hidden 128, "
          f"4 layers, 16 experts top-2; median of {args.repeats}")
    print("| variant | median s | overhead |")
    print("| --- | --- | --- |")
    for v in variants:
        med = statistics.median(times[v])
        print(f"| {v} | {med:.3f} | {100 * (med / base - 1):+.1f}% |")


if __name__ == "__main__":
    main()
