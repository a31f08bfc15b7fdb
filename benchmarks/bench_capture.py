"""Capture overhead on generation: model.generate with and without qnext_lab.capture (goal <= 5%).

Runs a small random Qwen3-Next (the size of the bundled model: hidden 128, 4 layers, 16 experts, top-2,
shared expert), greedy generation of a batch of prompts, one torch thread. Two measures:
- end to end: runs interleaved (plain, capture, capture with probs, plain, ...) so that load from other
  processes hits every variant alike; medians of wall time and of process CPU time (CPU time is what a
  shared, contended machine measures most stably);
- inside capture: the time spent in capture's own hooks and in building the trace on exit, measured by
  timing those functions directly (thread CPU time), as a share of a plain generate's CPU time. This is the overhead that
  the end-to-end numbers see through the noise.

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

from qnext_lab.trace.capturing import capture


class TimedCapture(capture):
    """capture() that adds up the time spent in its own hooks and in building the trace."""

    spent = 0.0

    def _timed(self, fn):
        def wrapper(*args, **kwargs):
            start = time.thread_time()  # CPU time of this thread: preemption by other processes not counted
            try:
                return fn(*args, **kwargs)
            finally:
                TimedCapture.spent += time.thread_time() - start

        return wrapper

    def _on_model_forward(self, *args, **kwargs):
        return self._timed(super()._on_model_forward)(*args, **kwargs)

    def _experts_hook(self, layer_pos):
        return self._timed(super()._experts_hook(layer_pos))

    def _router_hook(self, layer_pos):
        return self._timed(super()._router_hook(layer_pos))

    def _build(self):
        return self._timed(super()._build)()


def build_model(hidden: int, layers: int, experts: int, top_k: int) -> torch.nn.Module:
    config = transformers.Qwen3NextConfig(
        vocab_size=256,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        moe_intermediate_size=hidden // 2,
        shared_expert_intermediate_size=hidden // 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=32,
        num_experts=experts,
        num_experts_per_tok=top_k,
        linear_num_key_heads=2,
        linear_num_value_heads=4,
        linear_key_head_dim=32,
        linear_value_head_dim=32,
        pad_token_id=0,
        eos_token_id=1,
    )
    torch.manual_seed(0)
    model = transformers.Qwen3NextForCausalLM(config).eval()
    model.set_experts_implementation("qnext")
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--prompt", type=int, default=32)
    parser.add_argument("--new", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(1)  # one thread: steadier timings on a shared machine

    model = build_model(hidden=128, layers=4, experts=16, top_k=2)
    torch.manual_seed(1)
    ids = torch.randint(2, 256, (args.batch, args.prompt))
    mask = torch.ones_like(ids)
    mask[0, : args.prompt // 4] = 0  # one left-padded row, as in a real batch

    def run(variant: str) -> tuple[float, float]:
        kwargs = dict(
            input_ids=ids, attention_mask=mask, max_new_tokens=args.new, min_new_tokens=args.new, do_sample=False
        )
        wall, cpu = time.perf_counter(), time.process_time()
        with torch.no_grad():
            if variant == "plain":
                model.generate(**kwargs)
            else:
                with TimedCapture(model, probs=variant == "capture+probs") as trace:
                    model.generate(**kwargs)
                assert len(trace) == int(mask.sum()) + args.batch * (args.new - 1)
        return time.perf_counter() - wall, time.process_time() - cpu

    variants = ["plain", "capture", "capture+probs"]
    for v in variants:  # warm-up
        run(v)
    wall: dict[str, list[float]] = {v: [] for v in variants}
    cpu: dict[str, list[float]] = {v: [] for v in variants}
    inside: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(args.repeats):
        for v in variants:
            TimedCapture.spent = 0.0
            w, c = run(v)
            wall[v].append(w)
            cpu[v].append(c)
            inside[v].append(TimedCapture.spent)
    base_wall, base_cpu = statistics.median(wall["plain"]), statistics.median(cpu["plain"])
    print(
        f"## capture overhead ({platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} thread, "
        f"{datetime.date.today()})"
    )
    print(
        f"generate: batch {args.batch}, prompt {args.prompt}, {args.new} new tokens, Qwen3-Next hidden 128, "
        f"4 layers, 16 experts top-2, experts implementation 'qnext'; median of {args.repeats}"
    )
    print("| variant | wall s | wall overhead | CPU s | CPU overhead | inside capture s | inside / plain CPU |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for v in variants:
        w, c, i = statistics.median(wall[v]), statistics.median(cpu[v]), statistics.median(inside[v])
        print(
            f"| {v} | {w:.3f} | {100 * (w / base_wall - 1):+.1f}% | {c:.3f} | {100 * (c / base_cpu - 1):+.1f}% "
            f"| {i:.4f} | {100 * i / base_cpu:.2f}% |"
        )


if __name__ == "__main__":
    main()
