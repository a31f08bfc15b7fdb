"""Thinking-budget speed: a budget sweep (8 budgets x 64 problems, goal <= 60 s and >= 5x faster than
naive sequential generate calls) and the slider's re-answer at a new budget (goal p50 <= 300 ms).

Runs on the bundled qnext-tiny when it exists, else on a random Qwen3-Next of the same size with the
thinking tests' char tokenizer (then said in the output: a random model never ends its thinking, so
every run goes to max_new_tokens: a harsher case for the sweep, not a realistic one). The naive baseline
runs ``generate(budget=b)`` once per (problem, budget) on the first ``--naive-problems`` problems and is
scaled to the full set; a verify step checks that the sweep's tokens equal the naive ones there.

    nice -n 15 .venv/bin/python benchmarks/bench_budget.py
"""

from __future__ import annotations

import argparse
import datetime
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
import transformers

import qnext_lab
from qnext_lab.thinking.generation import generate
from qnext_lab.thinking.prefix import answer_at_budget
from qnext_lab.thinking.sweep import sweep_generations
from qnext_lab.tiny.tasks import make_problems, score

BUDGETS = [0, 2, 4, 8, 16, 32, 64, None]


def load_model() -> tuple[Any, Any, str]:
    """(model, tokenizer, description): the bundled checkpoint if present, else a random stand-in."""
    try:
        path = qnext_lab.tiny_path()
    except FileNotFoundError:
        path = None
    if path is not None:
        model = transformers.AutoModelForCausalLM.from_pretrained(path).eval()
        tok = transformers.AutoTokenizer.from_pretrained(path)
        return model, tok, f"bundled qnext-tiny ({sum(p.numel() for p in model.parameters()) / 1e6:.1f}M params)"
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "thinking"))
    from toy import char_tokenizer, random_model

    from qnext_lab.tiny import STOP_TEXT

    tok = char_tokenizer("thinking")  # the template opens <think>, so the random model thinks at once
    model = random_model(tok)
    model.generation_config.thinking_stop_text = STOP_TEXT
    return model, tok, "RANDOM Qwen3-Next stand-in (bundled model absent; its thinking rarely ends on its own)"


def bench_sweep(model: Any, tok: Any, problems: list, args: argparse.Namespace) -> tuple[float, Any]:
    start = time.perf_counter()
    runs = sweep_generations(
        model,
        tok,
        problems,
        BUDGETS,
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
        non_thinking=False,
    )
    return time.perf_counter() - start, (runs.table(problems, score), runs.generations)


def bench_naive(model: Any, tok: Any, problems: list, args: argparse.Namespace) -> tuple[float, dict]:
    """Seconds for naive sequential calls on ``problems`` and their generations per budget."""
    out: dict = {b: [] for b in BUDGETS}
    start = time.perf_counter()
    for p in problems:
        for b in BUDGETS:
            out[b].append(generate(model, tok, p.question, budget=b, max_new_tokens=args.max_new_tokens))
    return time.perf_counter() - start, out


def bench_reanswer(model: Any, tok: Any, problems: list, args: argparse.Namespace) -> list[float]:
    """Latencies (s) of answer_at_budget at random budgets from cached unlimited runs."""
    rng = random.Random(0)
    cached = [generate(model, tok, p.question, max_new_tokens=args.max_new_tokens) for p in problems]
    latencies = []
    for i in range(args.reanswers):
        full = cached[i % len(cached)]
        budget = rng.randint(0, max(1, full.thinking_tokens))  # a slider position inside the thinking
        start = time.perf_counter()
        answer_at_budget(model, tok, full, budget)
        latencies.append(time.perf_counter() - start)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=64)
    parser.add_argument("--naive-problems", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=160)
    parser.add_argument("--reanswers", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared 2-core box)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, tok, what = load_model()
    problems = make_problems(args.problems, seed=1234)
    generate(model, tok, problems[0].question, max_new_tokens=8)  # warm-up

    sweep_s, (df, gens) = bench_sweep(model, tok, problems, args)
    naive_set = problems[: args.naive_problems]
    naive_s, naive = bench_naive(model, tok, naive_set, args)
    naive_full_s = naive_s * len(problems) / len(naive_set)
    same = all([g.token_ids for g in gens[b][: len(naive_set)]] == [g.token_ids for g in naive[b]] for b in BUDGETS)
    latencies = bench_reanswer(model, tok, problems[:8], args)
    p50 = statistics.median(latencies)
    p90 = sorted(latencies)[int(0.9 * (len(latencies) - 1))]

    print(
        f"## bench_budget — {datetime.date.today()} — {platform.machine()}, {torch.get_num_threads()} torch thread(s), "
        f"torch {torch.__version__}, transformers {transformers.__version__}"
    )
    print(
        f"model: {what}; {len(problems)} problems, budgets {BUDGETS}, batch {args.batch_size}, "
        f"max_new_tokens {args.max_new_tokens}"
    )
    print(df[["budget", "accuracy", "mean_thinking_tokens", "mean_total_tokens", "time_s"]].to_string(index=False))
    print(f"sweep: {sweep_s:.1f} s (unlimited pass {df.attrs['shared_s']:.1f} s)  [goal <= 60 s]")
    print(
        f"naive sequential generate: {naive_s:.1f} s for {len(naive_set)} problems -> {naive_full_s:.1f} s "
        f"for {len(problems)}; speed-up {naive_full_s / sweep_s:.1f}x  [goal >= 5x]"
    )
    print(f"verify: sweep tokens == naive tokens on {len(naive_set)} problems x {len(BUDGETS)} budgets: {same}")
    print(
        f"re-answer at a new budget: p50 {p50 * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms over {len(latencies)} "
        f"calls  [goal p50 <= 300 ms]"
    )


if __name__ == "__main__":
    main()
