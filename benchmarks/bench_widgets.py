"""Widget responsiveness: a routing-heatmap layer change on a 4,000-token trace (goal p50 <= 200 ms, Python
side) and a budget-slider move until the new answer is on screen (goal p50 <= 300 ms, bundled model, CPU).

The trace is real: the model's routing captured over a prefill of 8 prompts x 500 tokens (qnext-tiny's
context is 1,024 tokens, so 4,000 tokens are several sequences). The heatmap numbers time the Python side of
``RoutingHeatmap`` (figure building + the PlotPane output update, no browser). The slider numbers time
``BudgetTuner`` end to end as a user sees it: from setting the slider to the answer for that budget being
shown, debounce (0.12 s) included. Runs on the bundled qnext-tiny when present, else on an untrained model of
the same architecture (said in the output).

    PYTHONPATH=. nice -n 15 .venv/bin/python benchmarks/bench_widgets.py
"""

from __future__ import annotations

import argparse
import datetime
import platform
import random
import statistics
import threading
import time
from typing import Any

import torch
import transformers

import qnext_lab
from qnext_lab.tiny.tasks import make_problems
from qnext_lab.trace.capturing import capture
from qnext_lab.widgets.budget_tuner import BudgetTuner
from qnext_lab.widgets.routing_heatmap import RoutingHeatmap


def load_model() -> tuple[Any, Any, str]:
    """(model, tokenizer, description): the bundled checkpoint if present, else an untrained stand-in."""
    try:
        model, tok = qnext_lab.load("tiny")
        return model, tok, f"bundled qnext-tiny ({sum(p.numel() for p in model.parameters()) / 1e6:.1f}M params)"
    except FileNotFoundError:
        from transformers import Qwen3NextForCausalLM

        from qnext_lab.tiny.model import tiny_config
        from qnext_lab.tiny.tokenizer import build_tokenizer

        tok = build_tokenizer()
        torch.manual_seed(0)
        config = tiny_config(
            len(tok), pad_token_id=tok.pad_token_id, eos_token_id=tok.convert_tokens_to_ids("<|im_end|>")
        )
        model = Qwen3NextForCausalLM(config).eval()
        model.set_experts_implementation("qnext")
        return model, tok, "UNTRAINED qnext-tiny architecture (bundled checkpoint absent)"


def long_trace(model: Any, tok: Any, sequences: int = 8, length: int = 500) -> Any:
    """The routing of ``sequences`` x ``length`` real prompt tokens (problem text), one prefill."""
    text = " ".join(p.question for p in make_problems(400, seed=3))
    ids = tok.encode(text, add_special_tokens=False)
    batch = torch.tensor([ids[i * length : (i + 1) * length] for i in range(sequences)])  # (B, T)
    with torch.inference_mode(), capture(model) as trace:
        model(input_ids=batch, attention_mask=torch.ones_like(batch))
    trace.tokens = [tok.decode([t]) for t in trace.token_ids.tolist()]
    return trace


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[int(0.9 * (len(ordered) - 1))]


def bench_heatmap(trace: Any, repeats: int) -> dict[str, list[float]]:
    view = RoutingHeatmap(trace)  # default window: 512 tokens
    times: dict[str, list[float]] = {"layer": [], "window": [], "mode": []}
    for _ in range(repeats):
        start = time.perf_counter()
        view.layer = (view.layer + 1) % trace.num_layers
        times["layer"].append(time.perf_counter() - start)
        start = time.perf_counter()
        view.window_start = (view.window_start + 512) % trace.num_tokens
        times["window"].append(time.perf_counter() - start)
        start = time.perf_counter()
        view.mode = "layers" if view.mode == "experts" else "experts"
        times["mode"].append(time.perf_counter() - start)
    assert not view.errors.outputs, view.errors.outputs
    return times


def bench_slider(model: Any, tok: Any, moves: int, max_budget: int) -> tuple[list[float], list[bool], float]:
    question = make_problems(1, seed=5)[0].question
    tuner = BudgetTuner(model, tok, question, budget=max_budget, max_budget=max_budget)
    start = time.perf_counter()
    tuner.wait(300)
    first = time.perf_counter() - start  # includes the one unlimited run the slider then reuses
    shown = threading.Event()
    tuner.observe(lambda change: shown.set() if change["new"] == tuner.budget else None, names=["shown_budget"])
    rng = random.Random(0)
    latencies, reused = [], []
    for _ in range(moves):
        budget = rng.choice([b for b in range(max_budget + 1) if b != tuner.budget])
        shown.clear()
        start = time.perf_counter()
        tuner.slider.value = budget
        if not shown.wait(60):
            raise RuntimeError(f"no answer for budget {budget}: {tuner.errors.outputs}")
        latencies.append(time.perf_counter() - start)
        reused.append(bool(tuner.last_result.reused))  # budget >= the thinking: nothing to re-run
    return latencies, reused, first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="heatmap updates per kind")
    parser.add_argument("--moves", type=int, default=30, help="slider moves")
    parser.add_argument("--max-budget", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared 2-core box)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, tok, what = load_model()
    trace = long_trace(model, tok)
    heat = bench_heatmap(trace, args.repeats)
    latencies, reused, first = bench_slider(model, tok, args.moves, args.max_budget)

    print(
        f"## bench_widgets — {datetime.date.today()} — {platform.machine()}, {torch.get_num_threads()} torch "
        f"thread(s), torch {torch.__version__}, transformers {transformers.__version__}"
    )
    print(f"model: {what}; trace {trace}")
    for kind, values in heat.items():
        p50, p90 = percentiles(values)
        goal = "  [goal p50 <= 200 ms]" if kind == "layer" else ""
        print(f"heatmap {kind} change, {len(values)} x: p50 {p50 * 1e3:.0f} ms, p90 {p90 * 1e3:.0f} ms{goal}")
    p50, p90 = percentiles(latencies)
    print(
        f"budget slider move -> answer shown, {len(latencies)} moves over 0..{args.max_budget}: "
        f"p50 {p50 * 1e3:.0f} ms, p90 {p90 * 1e3:.0f} ms  [goal p50 <= 300 ms] (first answer {first:.2f} s)"
    )
    rerun = [t for t, r in zip(latencies, reused) if not r]
    if rerun:
        p50, p90 = percentiles(rerun)
        print(
            f"  of which {len(rerun)} moves below the model's own thinking length (truncate + re-answer): "
            f"p50 {p50 * 1e3:.0f} ms, p90 {p90 * 1e3:.0f} ms; the other {len(latencies) - len(rerun)} reuse the "
            f"unlimited run (debounce only)"
        )


if __name__ == "__main__":
    main()
