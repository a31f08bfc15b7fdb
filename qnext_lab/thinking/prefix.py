"""Re-answering at a new budget from a cached unlimited-thinking run (greedy decoding only).

With greedy decoding a budgeted run is the unlimited run up to the step where the budget processor
first intervenes; from there it is the stop text and then the model's greedy answer. So one unlimited
run per prompt serves every budget: find the intervention step by replaying the phase state machine over
the cached tokens, then prefill prompt + truncated thinking + stop text and decode the answer. When the
budget is never reached the budgeted run *is* the unlimited run and no model call is needed. This is what
makes budget sweeps cheap and the budget slider fast. Knows nothing about widgets or scoring.

    full = generate(model, tok, prompt)                 # budget=None, greedy
    at8 = answer_at_budget(model, tok, full, budget=8)  # == generate(model, tok, prompt, budget=8)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch

from .budget import Budget, check_budget
from .generate import Generation, Prepared, build_generation, left_pad, pad_id_of
from .phases import THINKING, RowPhase
from .template import ThinkTokens, resolve_stop_text, stop_token_ids, think_tokens


def intervention_step(gen: Generation, tokens: ThinkTokens, budget: Budget) -> int | None:
    """Index of the generated token a ``budget`` run would replace by the stop text; None if it never would.

    Mirrors ``ThinkingBudgetProcessor._decide``: before each step, a row inside the think block whose
    count has reached the budget is closed.
    """
    if budget is None:
        return None
    row = RowPhase(tokens, gen.meta["state"])
    for i, (token, forced) in enumerate(zip(gen.token_ids, gen.forced)):
        if row.state == THINKING and row.thinking_tokens >= budget:
            return i
        row.observe(token, forced)
        if row.done:
            return None
    if row.state == THINKING and row.thinking_tokens >= budget and len(gen.token_ids) < gen.meta["max_new_tokens"]:
        return len(gen.token_ids)
    return None


def _check_cached(gen: Generation) -> None:
    if not isinstance(gen, Generation):
        raise TypeError(f"expected a Generation from generate(), got {type(gen).__name__}")
    if gen.meta.get("do_sample", True) or gen.budget is not None or gen.finish_reason == "stopped":
        raise ValueError(
            "re-answering needs a complete greedy run with budget=None (do_sample=False); "
            f"got do_sample={gen.meta.get('do_sample')}, budget={gen.budget}, finish_reason={gen.finish_reason!r}"
        )
    if not gen.thinking_mode:
        raise ValueError("the cached run did not think (thinking=False or /no_think); there is nothing to cut")


def answers_at_budget(
    model: Any,
    tokenizer: Any,
    cached: Sequence[Generation],
    budget: Budget | Sequence[Budget],
    *,
    stop_text: str | None = None,
) -> list[Generation]:
    """The generations ``generate(..., budget=b)`` would give, derived from cached unlimited runs.

    Rows that need a new answer are continued in one left-padded greedy batch.
    """
    budgets = list(budget) if isinstance(budget, Sequence) else [budget] * len(cached)
    if len(budgets) != len(cached):
        raise ValueError(f"{len(budgets)} budgets for {len(cached)} cached generations")
    budgets = [check_budget(b) for b in budgets]
    for gen, b in zip(cached, budgets):
        _check_cached(gen)
        minimum = gen.meta.get("min_thinking")
        if minimum is not None and b is not None and b < minimum:
            raise ValueError(f"budget {b} is below the cached run's min_thinking ({minimum})")
    tokens = think_tokens(tokenizer, model)
    eos = tokens.eos_ids
    start = time.perf_counter()
    results: list[Generation | None] = [None] * len(cached)
    pending = []  # (row, prefix ids, forced flags, new tokens allowed)
    for r, (gen, b) in enumerate(zip(cached, budgets)):
        text = resolve_stop_text(stop_text if stop_text is not None else gen.meta.get("stop_text"), model)
        stop_ids = stop_token_ids(tokenizer, text, tokens)
        cut = intervention_step(gen, tokens, b)
        if cut is None:  # the budget is never reached: the budgeted run is the cached run
            results[r] = replace(gen, budget=b, meta=dict(gen.meta, reused=True))
            continue
        room = gen.meta["max_new_tokens"] - cut
        ids = gen.token_ids[:cut] + stop_ids[:room]
        forced = gen.forced[:cut] + [True] * len(stop_ids[:room])
        pending.append((r, ids, forced, room - len(stop_ids)))
    continuations = _continue(model, tokenizer, cached, pending, eos)
    seconds = time.perf_counter() - start
    for (r, ids, forced, _), cont in zip(pending, continuations):
        gen = cached[r]
        prepared = Prepared(gen.prompt, gen.prompt_ids, gen.thinking_mode, gen.meta["state"])
        new = build_generation(
            tokenizer, prepared, tokens, eos, ids + cont, forced + [False] * len(cont),
            budget=budgets[r], ttft_s=seconds, seconds=seconds,
        )
        new.meta.update(gen.meta, reused=False)
        results[r] = new
    return results  # type: ignore[return-value]


def _continue(
    model: Any, tokenizer: Any, cached: Sequence[Generation], pending: list, eos: tuple[int, ...]
) -> list[list[int]]:
    """Greedy continuations of prompt + prefix for the ``pending`` rows, each cut at its own room."""
    rows = [(r, ids, room) for r, ids, _, room in pending if room > 0]
    out: dict[int, list[int]] = {r: [] for r, *_ in pending}
    if rows:
        pad = pad_id_of(tokenizer, eos)
        input_ids, mask = left_pad([cached[r].prompt_ids + ids for r, ids, _ in rows], pad)  # (B, P)
        device = next(model.parameters()).device
        with torch.inference_mode():
            seqs = model.generate(
                input_ids=input_ids.to(device),
                attention_mask=mask.to(device),
                max_new_tokens=max(room for *_, room in rows),
                do_sample=False, temperature=None, top_p=None, top_k=None,
                eos_token_id=list(eos),
                pad_token_id=pad,
            )
        for (r, _, room), new in zip(rows, seqs[:, input_ids.shape[1] :].tolist()):  # (B, G)
            out[r] = new[:room]
    return [out[r] for r, *_ in pending]


def answer_at_budget(
    model: Any, tokenizer: Any, cached: Generation, budget: Budget, *, stop_text: str | None = None
) -> Generation:
    """Re-answer one cached unlimited run at ``budget`` (what the budget slider calls)."""
    return answers_at_budget(model, tokenizer, [cached], [budget], stop_text=stop_text)[0]
