"""Cost of the generation engine over a bare ``model.generate``: qnext-tiny, greedy, a fixed number of tokens.

The engine adds, per call, the model lock, prompt rendering and the Generation's parsing; per decode step, the
StepClock (time to first token, which rows ended) and, with a budget, the budget processor's phase machine.
Four variants of the same prompt (each ends at the model's own end of turn, so all generate the same tokens), run interleaved in a rotating order so load from other
processes hits all alike; the budget is larger than the run, so it never
forces a token (its bookkeeping is what is measured). Reports median wall seconds per call and tokens/s, and
each variant's ratio to the bare call. The engine's tokens are checked equal to the bare call's first.

    nice -n 15 .venv/bin/python benchmarks/bench_engine.py --repeats 9
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import time

import torch

import qnext_lab
from qnext_lab.thinking.generation import generate
from qnext_lab.thinking.request import GenerationOptions, make_request
from qnext_lab.thinking.result import Timing, build_generation

PROMPT = "What is 4785 + 3561?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--tokens", type=int, default=160, help="max_new_tokens")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, tok = qnext_lab.load("tiny")
    rendered = tok.apply_chat_template(
        [{"role": "user", "content": PROMPT}], tokenize=False, add_generation_prompt=True, enable_thinking=True
    )
    ids = tok(rendered, return_tensors="pt", add_special_tokens=False)
    n = args.tokens

    def bare() -> list[int]:
        with torch.inference_mode():
            out = model.generate(**ids, max_new_tokens=n, do_sample=False, pad_token_id=tok.pad_token_id)
        return out[0, ids.input_ids.shape[1] :].tolist()

    variants = {
        "model.generate (bare)": bare,
        "generate()": lambda: generate(model, tok, PROMPT, max_new_tokens=n).token_ids,
        "generate(budget=10_000)": lambda: generate(model, tok, PROMPT, max_new_tokens=n, budget=10_000).token_ids,
        "generate(capture=True)": lambda: generate(model, tok, PROMPT, max_new_tokens=n, capture=True).token_ids,
    }
    reference = bare()
    engine_ids = variants["generate()"]()
    assert reference == engine_ids, "the engine's greedy tokens differ from model.generate's"
    counts = {name: len(fn()) for name, fn in variants.items()}
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for r in range(args.repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:  # rotate: no variant always goes first
            start = time.perf_counter()
            variants[name]()
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["model.generate (bare)"])
    print(
        f"# engine overhead, {datetime.date.today()} · {platform.platform()} · torch {torch.__version__} · "
        f"1 torch thread · qnext-tiny · prompt {ids.input_ids.shape[1]} tokens · {args.repeats} repeats"
    )
    print("| variant | tokens | median s/call | tokens/s | time vs bare |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name in variants:
        med = statistics.median(times[name])
        print(f"| {name} | {counts[name]} | {med:.3f} | {counts[name] / med:.1f} | {med / base:.3f} |")

    # the engine's host work per call, alone: rendering + checks, and labelling + decoding + parsing
    req = make_request(model, tok, [PROMPT], GenerationOptions(max_new_tokens=n))
    forced = [False] * len(engine_ids)
    for label, fn in (
        (
            "make_request (render, tokenize, check)",
            lambda: make_request(model, tok, [PROMPT], GenerationOptions(max_new_tokens=n)),
        ),
        (
            "build_generation (label, decode, parse)",
            lambda: build_generation(tok, req, 0, engine_ids, forced, Timing(0.0, 0.0)),
        ),
    ):
        samples = []
        for _ in range(50):
            start = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - start)
        print(f"| {label} | | {statistics.median(samples) * 1e3:.2f} ms | | |")


if __name__ == "__main__":
    main()
