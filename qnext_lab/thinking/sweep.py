"""sweep_budget(): accuracy, thinking tokens, total tokens and time at each thinking budget, over a set
of problems, as a pandas DataFrame (one row per budget, plus the non-thinking reference).

Greedy decoding (the default) generates the unlimited thinking once per problem, in batches, and derives
every budget's answer from the truncated prefix plus the stop text (``prefix.answers_at_budget``): each
budget costs one batched prefill + short answer, and budgets a problem never reaches cost nothing.
Sampling runs each budget directly (one batch per chunk, the budget processor per row). ``sweep_generations``
returns the generations (``SweepRuns``), ``sweep_budget`` their table (always a DataFrame). Knows nothing about
figures; ``qnext_lab.figures.budget`` plots the result.

    df = sweep_budget(model, tok, make_problems(64, seed=0), [0, 4, 16, 64, None], score=score)
    df[["budget", "accuracy", "mean_thinking_tokens"]]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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


NON_THINKING = "non-thinking"  # the key of the non-thinking reference in SweepRuns


@dataclass(frozen=True)
class SweepRuns:
    """The generations of a budget sweep: per budget (and ``"non-thinking"``) one Generation per problem, in
    problem order, with the seconds each pass took (``shared_s``: the unlimited pass every greedy budget is
    derived from)."""

    generations: dict[Any, list[Generation]]
    seconds: dict[Any, float]
    shared_s: float

    def table(self, problems: Sequence[Any], score: Callable[[Any, str], float]) -> pd.DataFrame:
        """One row per budget (then the non-thinking row): the ``sweep_budget`` table of these runs."""
        rows = []
        for key, gens in self.generations.items():
            scores = [float(score(p, g.answer)) for p, g in zip(problems, gens)]
            mode = "non-thinking" if key == NON_THINKING else "thinking"
            rows.append(_summary(None if key == NON_THINKING else key, mode, gens, scores, self.seconds[key]))
        df = pd.DataFrame(rows, columns=COLUMNS)
        df["budget"] = df["budget"].astype("Int64")
        df.attrs["shared_s"] = self.shared_s
        return df


def _check_problems(problems: Sequence[Any]) -> None:
    if isinstance(problems, (str, bytes)) or not isinstance(problems, Sequence) or not problems:
        raise TypeError("problems must be a non-empty list")


def sweep_generations(
    model: Any,
    tokenizer: Any,
    problems: Sequence[Any],
    budgets: Sequence[Budget],
    *,
    batch_size: int = 16,
    prompt_of: Callable[[Any], PromptLike] = default_prompt,
    non_thinking: bool = True,
    max_new_tokens: int | None = None,
    stop_text: str | None = None,
    do_sample: bool = False,
    seed: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> SweepRuns:
    """The generations of ``problems`` at each budget in ``budgets`` (ints >= 0; None = unlimited): what
    ``sweep_budget`` scores (``runs.table(problems, score)``).

    Args:
        batch_size: problems per batch.
        prompt_of: a problem's prompt (default: the problem itself, or its ``question``).
        non_thinking: add the ``"non-thinking"`` runs (the ``mode="non-thinking"`` row of the table, budget <NA>,
            the reference line of the figure).
        max_new_tokens, stop_text: as in ``generate``.
        do_sample, seed: sample instead of greedy (each budget is then generated directly).
        progress: called with a short message after each pass.
    """
    _check_problems(problems)
    batch_size = as_int(batch_size, "batch_size", low=1)
    budgets = _check_budgets(budgets)
    prompts = [prompt_of(p) for p in problems]
    chunks = _chunks(_by_length(prompts), batch_size)
    say = progress or (lambda message: None)
    options = {"max_new_tokens": max_new_tokens, "stop_text": stop_text, "do_sample": do_sample, "seed": seed}

    def each_chunk(label: str, run: Callable[[list[int]], list[Generation]]) -> tuple[list[Generation], float]:
        """The one loop: ``run`` on each chunk of problem indices, results back in problem order."""
        start, out = time.perf_counter(), [None] * len(prompts)
        for chunk in chunks:
            for i, g in zip(chunk, run(chunk)):
                out[i] = g
        seconds = time.perf_counter() - start
        say(f"{label}: {seconds:.1f} s")
        return out, seconds  # type: ignore[return-value]

    def direct(thinking: bool, budget: Budget) -> Callable[[list[int]], list[Generation]]:
        return lambda chunk: generate_batch(
            model, tokenizer, [prompts[i] for i in chunk], thinking=thinking, budget=budget, **options
        )

    runs: dict[Any, tuple[list[Generation], float]] = {}
    shared_s = 0.0
    if do_sample:  # each budget sampled directly
        for b in budgets:
            runs[b] = each_chunk(f"budget {b}", direct(True, b))
    else:  # think once without a limit, derive every budget from its prefix
        unlimited, shared_s = each_chunk("unlimited thinking", direct(True, None))
        for b in budgets:
            runs[b] = (
                (unlimited, shared_s)
                if b is None
                else each_chunk(
                    f"budget {b}",
                    lambda chunk, b=b: answers_at_budget(
                        model, tokenizer, [unlimited[i] for i in chunk], b, stop_text=stop_text
                    ),
                )
            )
    if non_thinking:
        runs[NON_THINKING] = each_chunk("non-thinking", direct(False, None))
    return SweepRuns({k: g for k, (g, _) in runs.items()}, {k: t for k, (_, t) in runs.items()}, shared_s)


def sweep_budget(
    model: Any,
    tokenizer: Any,
    problems: Sequence[Any],
    budgets: Sequence[Budget],
    score: Callable[[Any, str], float],
    **sweep: Any,
) -> pd.DataFrame:
    """Evaluate ``problems`` at each budget in ``budgets`` (ints >= 0; None = unlimited).

    Args:
        score: ``score(problem, answer_text) -> bool | float`` (for the bundled task generator's problems,
            ``qnext_lab.tiny.score``).
        sweep: the keywords of ``sweep_generations`` (``batch_size``, ``prompt_of``, ``non_thinking``,
            ``max_new_tokens``, ``stop_text``, ``do_sample``, ``seed``, ``progress``), documented there.

    Returns one row per budget (then the non-thinking row) with columns budget (Int64, <NA> = unlimited),
    mode, accuracy, mean_thinking_tokens, mean_total_tokens, time_s (seconds spent on that row's own
    generation; the shared unlimited pass is ``df.attrs["shared_s"]`` and also the unlimited row's time), n.
    For the generations themselves, ``runs = sweep_generations(...)`` and ``runs.table(problems, score)``.
    """
    _check_problems(problems)
    if not callable(score):
        raise TypeError(
            "score must be a function score(problem, answer_text) -> bool | float, e.g. qnext_lab.tiny.score"
        )
    return sweep_generations(model, tokenizer, problems, budgets, **sweep).table(problems, score)
