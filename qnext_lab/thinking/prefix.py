"""Re-answering at a new budget from a cached unlimited-thinking run (greedy decoding only).

With greedy decoding a budgeted run is the unlimited run up to the step where the budget processor
first intervenes; from there it is the stop text and then the model's greedy answer. So one unlimited
run per prompt serves every budget: find the intervention step by replaying the phase state machine over
the cached tokens with the processor's own rule (``budget.closes_thinking``), then prefill prompt +
truncated thinking + stop text and decode the answer through the engine (with the budget processor at 0
tokens left, so thinking reopened later is closed as a direct run would). When the budget is never reached
the budgeted run *is* the unlimited run and no model call is needed. This is what makes budget sweeps cheap
and the budget slider fast. Knows nothing about widgets or scoring.

    full = generate(model, tok, prompt)                 # budget=None, greedy
    at8 = answer_at_budget(model, tok, full, budget=8)  # == generate(model, tok, prompt, budget=8)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from .budget import Budget, check_budget, closes_thinking
from .engine import decode
from .phases import RowPhase, start_state
from .request import Prepared, Request, continuation_request
from .result import Generation, Timing, build_generation
from .template import ThinkTokens, resolve_stop_text, stop_token_ids, think_tokens


def intervention_step(gen: Generation, tokens: ThinkTokens, budget: Budget) -> int | None:
    """Index of the generated token a ``budget`` run would replace by the stop text; None if it never would."""
    if budget is None:
        return None
    row = RowPhase(tokens, gen.start_state)
    for i, (token, forced) in enumerate(zip(gen.token_ids, gen.forced)):
        if closes_thinking(row, budget):
            return i
        row.observe(token, forced)
        if row.done:
            return None
    if closes_thinking(row, budget) and len(gen.token_ids) < gen.max_new_tokens:
        return len(gen.token_ids)
    return None


def _check_cached(gen: Generation) -> None:
    if not isinstance(gen, Generation):
        raise TypeError(f"expected a Generation from generate(), got {type(gen).__name__}")
    if gen.options.do_sample or gen.budget is not None or gen.finish_reason == "stopped":
        raise ValueError(
            "re-answering needs a complete greedy run with budget=None (do_sample=False); "
            f"got do_sample={gen.options.do_sample}, budget={gen.budget}, finish_reason={gen.finish_reason!r}"
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
    budgets = (
        list(budget)
        if isinstance(budget, Sequence) and not isinstance(budget, (str, bytes))
        else [budget] * len(cached)
    )
    if len(budgets) != len(cached):
        raise ValueError(f"{len(budgets)} budgets for {len(cached)} cached generations")
    budgets = [check_budget(b) for b in budgets]
    for gen, b in zip(cached, budgets):
        _check_cached(gen)
        minimum = gen.options.min_thinking
        if minimum is not None and b is not None and b < minimum:
            raise ValueError(f"budget {b} is below the cached run's min_thinking ({minimum})")
    tokens = think_tokens(tokenizer, model)
    start = time.perf_counter()
    results: list[Generation | None] = [None] * len(cached)
    pending = []  # (row, prefix ids, forced flags, new tokens allowed, stop text)
    for r, (gen, b) in enumerate(zip(cached, budgets)):
        text = resolve_stop_text(stop_text if stop_text is not None else gen.options.stop_text, model)
        stop_ids = stop_token_ids(tokenizer, text, tokens)
        cut = intervention_step(gen, tokens, b)
        if cut is None:  # the budget is never reached: the budgeted run is the cached run
            results[r] = replace(gen, budget=b, options=gen.options.replace(budget=b), reused=True)
            continue
        room = gen.max_new_tokens - cut
        ids = gen.token_ids[:cut] + stop_ids[:room]
        forced = gen.forced[:cut] + [True] * len(stop_ids[:room])
        pending.append((r, ids, forced, room - len(stop_ids), text))
    continuations = _continue(model, tokenizer, cached, pending)
    seconds = time.perf_counter() - start
    for (r, ids, forced, _, text), cont in zip(pending, continuations):
        gen = cached[r]
        options = gen.options.replace(budget=budgets[r], stop_text=text)
        prepared = Prepared(gen.prompt, gen.prompt_ids, gen.thinking_mode, gen.start_state)
        request = Request([prepared], tokens, [budgets[r]], gen.max_new_tokens, options, gen.tools)
        results[r] = build_generation(
            tokenizer, request, 0, ids + cont, forced + [False] * len(cont), Timing(seconds, seconds), stop_text=text
        )
        results[r].generated_tokens = len(cont)  # the stop text and the cached thinking were not generated here
    return results  # type: ignore[return-value]


def _continue(model: Any, tokenizer: Any, cached: Sequence[Generation], pending: list) -> list[list[int]]:
    """Greedy continuations of prompt + prefix for the ``pending`` rows, each cut at its own room."""
    rows = [(r, ids, room, text) for r, ids, _, room, text in pending if room > 0]
    out: dict[int, list[int]] = {r: [] for r, *_ in pending}
    if rows:
        tokens = think_tokens(tokenizer, model)
        prepared = []
        for r, ids, _, _ in rows:
            full = cached[r].prompt_ids + ids
            prepared.append(Prepared(cached[r].prompt, full, True, start_state(full, tokens, tokenizer)))
        # no thinking left: if the answer reopens <think>, the processor closes it at once, as in a direct run
        options = cached[rows[0][0]].options.replace(
            budget=tuple(0 for _ in rows), min_thinking=None, stop_text=rows[0][3], do_sample=False, capture=False
        )
        req = continuation_request(model, tokenizer, prepared, options, max(room for _, _, room, _ in rows))
        decoded = decode(model, tokenizer, req)
        for (r, _, room, _), new in zip(rows, decoded.rows):
            out[r] = new[:room]
    return [out[r] for r, *_ in pending]


def answer_at_budget(
    model: Any, tokenizer: Any, cached: Generation, budget: Budget, *, stop_text: str | None = None
) -> Generation:
    """Re-answer one cached unlimited run at ``budget`` (what the budget slider calls)."""
    return answers_at_budget(model, tokenizer, [cached], [budget], stop_text=stop_text)[0]
