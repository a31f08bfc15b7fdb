"""One thinking budget spent two ways: one long chain, or N shorter chains and a majority vote.

``split_budget`` gives every problem, for each total budget T and each number of chains N, N sampled chains of
T // N thinking tokens each (the same total), and votes on their answers. Sampling uses fixed seeds (one per
batch, derived from ``seed``), so a run is reproducible; N = 1 is the single long chain, sampled the same way,
so the two ways differ only in how the budget is split. ``budget_flips`` lists the problems whose voted answer
turns from right to wrong, or wrong to right, when the total budget grows: more thinking is not always better,
and the per-problem view shows where. Knows nothing about figures (``figures.parallel`` draws both).

    df = split_budget(model, tok, make_problems(12, seed=3, families=HARD_FAMILIES), score,
                      total_budgets=[16, 32, 64], chains=[1, 2, 4], seed=0)
    budget_flips(df)

Dimension legend: P = problems, N = chains per problem, T = total thinking budget.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from ..checks import as_int, as_int_list
from .generation import generate_batch
from .sweep import default_prompt
from .template import PromptLike

__all__ = ["budget_flips", "majority_vote", "split_budget"]


def majority_vote(answers: Sequence[str], key: Callable[[str], str] = str.strip) -> str:
    """The most common answer (compared by ``key``; empty answers do not vote unless all are empty).

    A tie goes to the answer whose first chain came first, so the vote never depends on set order.
    """
    if isinstance(answers, str) or not isinstance(answers, Sequence) or not answers:
        raise TypeError("answers must be a non-empty list of answer strings")
    keys = [key(a) for a in answers]
    counts = Counter(k for k in keys if k)
    if not counts:
        return answers[0]
    best = max(counts.values())
    winner = next(k for k in keys if counts.get(k) == best)  # first chain among the tied
    return answers[keys.index(winner)]


def split_budget(
    model: Any,
    tokenizer: Any,
    problems: Sequence[Any],
    score: Callable[[Any, str], float],
    *,
    total_budgets: Sequence[int] = (16, 32, 64),
    chains: Sequence[int] = (1, 2, 4),
    seed: int = 0,
    batch_size: int = 48,
    answer_tokens: int = 48,
    prompt_of: Callable[[Any], PromptLike] = default_prompt,
    key: Callable[[str], str] = str.strip,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """One row per (problem, total budget, chains): the chains' answers, the vote and whether it is right.

    Columns: problem (index), family (the problem's ``family`` attribute or None), question, total_budget,
    chains, chain_budget (total // chains), answers (list, one per chain), voted, right (score of the voted
    answer), chains_right (how many chains alone were right), thinking_tokens (all chains together).
    ``answer_tokens``: room for the stop text and the answer after a chain's budget.
    """
    if isinstance(problems, (str, bytes)) or not isinstance(problems, Sequence) or not problems:
        raise TypeError("problems must be a non-empty list")
    if not callable(score):
        raise TypeError("score must be a function score(problem, answer_text), e.g. qnext_lab.tiny.score")
    totals = as_int_list(total_budgets, "total_budgets", low=1)
    splits = as_int_list(chains, "chains", low=1, high=64)
    for t in totals:
        for n in splits:
            if t // n < 1:
                raise ValueError(f"total budget {t} split into {n} chains leaves {t // n} tokens per chain")
    seed = as_int(seed, "seed", low=0)
    batch_size = as_int(batch_size, "batch_size", low=1)
    answer_tokens = as_int(answer_tokens, "answer_tokens", low=1)
    prompts = [prompt_of(p) for p in problems]
    say = progress or (lambda message: None)
    rows = []
    for cell, (total, n) in enumerate((t, n) for t in totals for n in splits):
        per_chain = total // n
        jobs = [(i, c) for i in range(len(prompts)) for c in range(n)]  # (problem, chain), P*N rows
        answers: dict[int, list[str]] = {i: [] for i in range(len(prompts))}
        thinking: dict[int, int] = dict.fromkeys(range(len(prompts)), 0)
        for b, start in enumerate(range(0, len(jobs), batch_size)):
            chunk = jobs[start : start + batch_size]
            gens = generate_batch(
                model,
                tokenizer,
                [prompts[i] for i, _ in chunk],
                budget=per_chain,
                max_new_tokens=per_chain + answer_tokens,
                do_sample=True,
                seed=seed * 1_000_003 + cell * 1_009 + b,
            )
            for (i, _), g in zip(chunk, gens):
                answers[i].append(g.answer)
                thinking[i] += g.thinking_tokens
        for i, problem in enumerate(problems):
            voted = majority_vote(answers[i], key)
            rows.append(
                {
                    "problem": i,
                    "family": getattr(problem, "family", None),
                    "question": prompts[i] if isinstance(prompts[i], str) else str(prompts[i]),
                    "total_budget": total,
                    "chains": n,
                    "chain_budget": per_chain,
                    "answers": answers[i],
                    "voted": voted,
                    "right": bool(score(problem, voted)),
                    "chains_right": sum(bool(score(problem, a)) for a in answers[i]),
                    "thinking_tokens": thinking[i],
                }
            )
        say(f"total {total}, {n} chain(s) of {per_chain}")
    return pd.DataFrame(rows)


def budget_flips(table: pd.DataFrame) -> pd.DataFrame:
    """Problems whose verdict changes between consecutive total budgets, per number of chains.

    Columns: problem, family, question, chains, from_budget, to_budget, change ("right -> wrong" or
    "wrong -> right"), from_answer, to_answer.
    """
    need = ["problem", "total_budget", "chains", "right", "voted"]
    if not isinstance(table, pd.DataFrame) or any(c not in table.columns for c in need):
        raise TypeError("pass the DataFrame returned by split_budget")
    rows = []
    for (problem, n), df in table.sort_values("total_budget").groupby(["problem", "chains"], sort=True):
        runs = df.to_dict("records")
        for a, b in zip(runs, runs[1:]):
            if a["right"] != b["right"]:
                rows.append(
                    {
                        "problem": problem,
                        "family": a.get("family"),
                        "question": a.get("question"),
                        "chains": n,
                        "from_budget": a["total_budget"],
                        "to_budget": b["total_budget"],
                        "change": "right -> wrong" if a["right"] else "wrong -> right",
                        "from_answer": a["voted"],
                        "to_answer": b["voted"],
                    }
                )
    columns = ["problem", "family", "question", "chains", "from_budget", "to_budget", "change"]
    return pd.DataFrame(rows, columns=[*columns, "from_answer", "to_answer"])
