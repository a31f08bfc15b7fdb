"""sweep_budget(): accuracy, thinking tokens, total tokens and time at each thinking budget, over a set
of problems, as a pandas DataFrame (one row per budget, plus the non-thinking reference).

Greedy decoding (the default) generates the unlimited thinking once per problem, in batches, and derives
every budget's answer from the truncated prefix plus the stop text (``prefix.answers_at_budget``): each
budget costs one batched prefill + short answer, and budgets a problem never reaches cost nothing.
Sampling runs each budget directly (one batch per chunk, the budget processor per row). Knows nothing about
figures; ``qnext_lab.figures.budget`` plots the result.

    df = sweep_budget(model, tok, make_problems(64, seed=0), [0, 4, 16, 64, None], score=score)
    df[["budget", "accuracy", "mean_thinking_tokens"]]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from ..checks import as_int
from .budget import Budget, check_budget
from .generation import generate_batch
from .prefix import answers_at_budget
from .result import Generation
from .template import PromptLike

COLUMNS = ["budget", "mode", "accuracy", "mean_thinking_tokens", "mean_total_tokens", "time_s", "n"]


def default_prompt(problem: Any) -> PromptLike:
    """A problem's prompt: the problem itself when it is a str or messages, else its ``question``."""
    if isinstance(problem, (str, list)):
        return problem
    question = getattr(problem, "question", None)
    if isinstance(question, str):
        return question
    raise TypeError(f"cannot find a prompt in {type(problem).__name__}; pass prompt_of=... to sweep_budget")


def _check_budgets(budgets: Sequence[Budget]) -> list[Budget]:
    if isinstance(budgets, (str, bytes)) or not isinstance(budgets, Sequence) or not budgets:
        raise TypeError("budgets must be a non-empty list of ints >= 0 and/or None (unlimited)")
    checked = [check_budget(b) for b in budgets]
    if len(set(checked)) != len(checked):
        raise ValueError(f"budgets must be distinct, got {list(budgets)}")
    return checked


def _chunks(order: list[int], size: int) -> list[list[int]]:
    return [order[i : i + size] for i in range(0, len(order), size)]


def _by_length(prompts: Sequence[PromptLike]) -> list[int]:
    """Indices sorted by prompt size, so batches hold similar lengths (less padding)."""
    return sorted(range(len(prompts)), key=lambda i: len(str(prompts[i])))


def _summary(budget: Budget, mode: str, gens: Sequence[Generation], scores: Sequence[float], seconds: float) -> dict:
    n = len(gens)
    return {
        "budget": budget,
        "mode": mode,
        "accuracy": sum(scores) / n,
        "mean_thinking_tokens": sum(g.thinking_tokens for g in gens) / n,
        "mean_total_tokens": sum(g.total_tokens for g in gens) / n,
        "time_s": seconds,
        "n": n,
    }


def sweep_budget(
    model: Any,
    tokenizer: Any,
    problems: Sequence[Any],
    budgets: Sequence[Budget],
    score: Callable[[Any, str], float],
    *,
    batch_size: int = 16,
    prompt_of: Callable[[Any], PromptLike] = default_prompt,
    non_thinking: bool = True,
    max_new_tokens: int | None = None,
    stop_text: str | None = None,
    do_sample: bool = False,
    seed: int | None = None,
    progress: Callable[[str], None] | None = None,
    return_generations: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, dict[Any, list[Generation]]]:
    """Evaluate ``problems`` at each budget in ``budgets`` (ints >= 0; None = unlimited).

    Args:
        score: ``score(problem, answer_text) -> bool | float`` (for the bundled task generator's problems,
            ``qnext_lab.tiny.score``).
        batch_size: problems per batch.
        non_thinking: add a ``mode="non-thinking"`` row (budget <NA>), the reference line of the figure.
        do_sample, seed: sample instead of greedy (each budget is then generated directly).
        progress: called with a short message after each pass.

    Returns one row per budget (then the non-thinking row) with columns budget (Int64, <NA> = unlimited),
    mode, accuracy, mean_thinking_tokens, mean_total_tokens, time_s (seconds spent on that row's own
    generation; the shared unlimited pass is ``df.attrs["shared_s"]`` and also the unlimited row's time), n.
    With ``return_generations=True`` returns ``(df, generations)``, a dict from each budget (and
    "non-thinking") to the list of Generations, in problem order.
    """
    if isinstance(problems, (str, bytes)) or not isinstance(problems, Sequence) or not problems:
        raise TypeError("problems must be a non-empty list")
    batch_size = as_int(batch_size, "batch_size", low=1)
    budgets = _check_budgets(budgets)
    if not callable(score):
        raise TypeError(
            "score must be a function score(problem, answer_text) -> bool | float, e.g. qnext_lab.tiny.score"
        )
    prompts = [prompt_of(p) for p in problems]
    chunks = _chunks(_by_length(prompts), batch_size)
    say = progress or (lambda message: None)
    gen_opts = {"max_new_tokens": max_new_tokens, "stop_text": stop_text, "do_sample": do_sample, "seed": seed}

    def batched(thinking: bool, budget: Budget) -> tuple[list[Generation], float]:
        start, out = time.perf_counter(), [None] * len(prompts)
        for chunk in chunks:
            gens = generate_batch(
                model, tokenizer, [prompts[i] for i in chunk], thinking=thinking, budget=budget, **gen_opts
            )
            for i, g in zip(chunk, gens):
                out[i] = g
        return out, time.perf_counter() - start  # type: ignore[return-value]

    results: dict[Any, tuple[list[Generation], float]] = {}
    shared_s = 0.0
    if do_sample:
        for b in budgets:
            results[b] = batched(True, b)
            say(f"budget {b}: {results[b][1]:.1f} s")
    else:
        unlimited, shared_s = batched(True, None)
        say(f"unlimited thinking: {shared_s:.1f} s")
        for b in budgets:
            if b is None:
                results[b] = (unlimited, shared_s)
                continue
            start, out = time.perf_counter(), [None] * len(prompts)
            for chunk in chunks:
                for i, g in zip(
                    chunk, answers_at_budget(model, tokenizer, [unlimited[i] for i in chunk], b, stop_text=stop_text)
                ):
                    out[i] = g
            results[b] = (out, time.perf_counter() - start)  # type: ignore[assignment]
            say(f"budget {b}: {results[b][1]:.1f} s")
    rows = []
    for b in budgets:
        gens, seconds = results[b]
        rows.append(_summary(b, "thinking", gens, [float(score(p, g.answer)) for p, g in zip(problems, gens)], seconds))
    generations = {b: results[b][0] for b in budgets}
    if non_thinking:
        start, out = time.perf_counter(), [None] * len(prompts)
        for chunk in chunks:
            for i, g in zip(
                chunk, generate_batch(model, tokenizer, [prompts[i] for i in chunk], thinking=False, **gen_opts)
            ):
                out[i] = g
        seconds = time.perf_counter() - start
        say(f"non-thinking: {seconds:.1f} s")
        rows.append(
            _summary(None, "non-thinking", out, [float(score(p, g.answer)) for p, g in zip(problems, out)], seconds)
        )
        generations["non-thinking"] = out
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["budget"] = df["budget"].astype("Int64")
    df.attrs["shared_s"] = shared_s
    return (df, generations) if return_generations else df
