"""Cost of the per-model lock on decode speed: qnext-tiny greedy generate with and without ``trace.lock.hold``.

The lock is taken once per call (by ``generate``, ``capture``, ``intervene``, the widgets), so its cost is
one uncontended ``RLock`` acquire/release plus the bookkeeping in ``hold``, paid once per generation, not per
token. Measured here two ways:
- end to end: the bundled model, one torch thread, greedy decode of a fixed number of tokens (``min_new_tokens``
  = ``max_new_tokens``), runs interleaved (plain, locked, plain, ...) so that load from other processes hits
  both alike; decode tokens/s from the step after the first token to the end (prefill excluded), medians and
  their ratio;
- alone: ``with hold(model): pass`` in a tight loop, microseconds per uncontended enter + exit.

    nice -n 15 .venv/bin/python benchmarks/bench_lock.py --repeats 9
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import time

import torch
from transformers import StoppingCriteria, StoppingCriteriaList

import qnext_lab
from qnext_lab.trace.lock import hold


class DecodeClock(StoppingCriteria):
    """Notes when the first token is out (the end of prefill); never stops generation."""

    def __init__(self) -> None:
        self.first: tuple[float, float] | None = None  # (wall, this thread's CPU time)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs) -> torch.BoolTensor:
        if self.first is None:
            self.first = (time.perf_counter(), time.thread_time())
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--new", type=int, default=64, help="tokens generated per run")
    parser.add_argument("--loops", type=int, default=200_000, help="enter/exit pairs for the lock alone")
    args = parser.parse_args()
    torch.set_num_threads(1)  # one thread: steadier timings on a shared machine

    model, tok = qnext_lab.load("tiny")
    text = tok.apply_chat_template(
        [{"role": "user", "content": "What is 478 + 356?"}],
        tokenize=False,
        add_generation_prompt=True,
        enable_thinking=True,
    )
    ids = tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"]

    def run(locked: bool) -> tuple[float, float]:
        """Decode tokens/s (by wall time, by CPU time) of one greedy generation of exactly ``args.new`` tokens."""
        clock = DecodeClock()
        kwargs = dict(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=args.new,
            min_new_tokens=args.new,
            do_sample=False,
            stopping_criteria=StoppingCriteriaList([clock]),
            pad_token_id=tok.pad_token_id,
        )
        with torch.inference_mode():
            if locked:
                with hold(model, what="benchmark"):
                    out = model.generate(**kwargs)
            else:
                out = model.generate(**kwargs)
            end = (time.perf_counter(), time.thread_time())
        assert out.shape[1] - ids.shape[1] == args.new
        return (args.new - 1) / (end[0] - clock.first[0]), (args.new - 1) / (end[1] - clock.first[1])

    for locked in (False, True):  # warm-up
        run(locked)
    wall: dict[bool, list[float]] = {False: [], True: []}
    cpu: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.repeats):
        for locked in (False, True):
            w, c = run(locked)
            wall[locked].append(w)
            cpu[locked].append(c)

    start = time.perf_counter()
    for _ in range(args.loops):
        with hold(model):
            pass
    per_call_us = (time.perf_counter() - start) / args.loops * 1e6

    print(
        f"## model lock cost ({platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} thread, "
        f"{datetime.date.today()})"
    )
    print(
        f"qnext-tiny greedy generate, prompt {ids.shape[1]} tokens, {args.new} new tokens, decode tokens/s "
        f"(prefill excluded) by wall time and by this thread's CPU time, median of {args.repeats} interleaved runs"
    )
    print("| variant | wall tokens/s | min .. max | CPU tokens/s | min .. max |")
    print("| --- | --- | --- | --- | --- |")
    for name, key in (("model.generate", False), ("with hold(model): model.generate", True)):
        print(
            f"| {name} | {statistics.median(wall[key]):.1f} | {min(wall[key]):.1f} .. {max(wall[key]):.1f} "
            f"| {statistics.median(cpu[key]):.1f} | {min(cpu[key]):.1f} .. {max(cpu[key]):.1f} |"
        )
    ratio = lambda d: statistics.median(d[True]) / statistics.median(d[False])  # noqa: E731
    print(f"locked / plain: wall {ratio(wall):.3f}, CPU {ratio(cpu):.3f}")
    print(f"uncontended `with hold(model): pass`: {per_call_us:.2f} µs per enter + exit ({args.loops} loops)")


if __name__ == "__main__":
    main()
