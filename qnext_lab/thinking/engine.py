"""The generation engine: the one place in qnext_lab that calls ``model.generate``.

``decode`` runs one left-padded batch under the model's lock (``trace.lock.hold``), with the budget
processor, a step clock (time to first token, a stop flag for streams, which rows have finished), an
optional streamer and, with ``capture``, the routing capture (finished rows of a batch are not recorded:
their post-end-of-turn padding is not real tokens). A seed seeds a forked generator state of the CPU and
the model's own device only, restored afterwards. ``run`` turns the result into one ``Generation`` per row,
with its routing trace labelled by phase. Everything public (``generate``, ``generate_batch``,
``stream_generate``, ``answer_at_budget``, ``sweep_budget``, ``run_agent``, ExpertSwitchboard) goes through here.
Knows nothing about widgets or figures.

    req = make_request(model, tok, ["What is 2 + 3?"], GenerationOptions(budget=8))
    [gen] = run(model, tok, req)
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

from ..trace.capturing import capture as capture_routing
from ..trace.lock import hold
from ..trace.phases import PROMPT, phase_id
from ..trace.routing_trace import RoutingTrace
from .budget import ThinkingBudgetProcessor
from .request import Request
from .result import Generation, Timing, build_generation


class StepClock(StoppingCriteria):
    """Never stops on its own: records when the first token arrived and which rows have ended their turn,
    and stops every row once ``stop`` is set or ``cancel`` (a closed stream's flag) is."""

    def __init__(self, eos: Sequence[int] = (), cancel: threading.Event | None = None) -> None:
        self.first_token_at: float | None = None
        self.stop = False
        self.cancel = cancel
        self.eos = torch.tensor(list(eos), dtype=torch.long)
        self.finished: torch.Tensor | None = None  # bool (B,) rows whose last token ended the turn

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
        ended = torch.isin(input_ids[:, -1], self.eos.to(input_ids.device))  # (B,)
        self.finished = ended if self.finished is None else self.finished | ended
        return torch.full((input_ids.shape[0],), self.stopped, dtype=torch.bool, device=input_ids.device)

    @property
    def stopped(self) -> bool:
        return self.stop or (self.cancel is not None and self.cancel.is_set())

    def rows_to_record(self) -> torch.Tensor | None:
        """Rows whose next forward is real (capture's ``keep_rows``): not yet ended; None before the first step."""
        return None if self.finished is None else ~self.finished


def left_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, P) input ids and attention mask, rows padded on the left."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)  # (B, P)
    mask = torch.zeros((len(rows), width), dtype=torch.long)  # (B, P)
    for i, r in enumerate(rows):
        if r:
            ids[i, width - len(r) :] = torch.tensor(list(r), dtype=torch.long)
            mask[i, width - len(r) :] = 1
    return ids, mask


def pad_id_of(tokenizer: Any, eos: Sequence[int]) -> int:
    """The tokenizer's pad id, else the first end-of-turn id (as transformers does)."""
    pad = getattr(tokenizer, "pad_token_id", None)
    return int(pad) if pad is not None else int(eos[0])


def make_processor(model: Any, tokenizer: Any, req: Request) -> ThinkingBudgetProcessor | None:
    """The budget processor ``req`` needs, or None when no row has a budget or minimum."""
    if not req.tokens.has_think or (all(b is None for b in req.budgets) and req.options.min_thinking is None):
        return None
    return ThinkingBudgetProcessor(
        tokenizer, req.budgets, stop_text=req.options.stop_text, model=model, min_thinking=req.options.min_thinking
    )


@contextlib.contextmanager
def seeded(seed: int | None, device: torch.device) -> Iterator[None]:
    """Seed the CPU generator and ``device``'s (if CUDA) for the block, restoring both afterwards; every
    other device and the process's global state stay as they were."""
    if seed is None:
        yield
        return
    cuda = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.random.default_generator.manual_seed(seed)
        if cuda:
            with torch.cuda.device(device):
                torch.cuda.manual_seed(seed)  # the current device only
        yield


@dataclass
class Decoded:
    """Raw output of one batch: generated ids per row (padding after the end of turn included)."""

    rows: list[list[int]]
    forced: list[list[bool]]  # per row and generated token: forced stop text
    timing: Timing
    processor: ThinkingBudgetProcessor | None
    trace: RoutingTrace | None  # every row's routing (seq_index = row), when capture was asked


def decode(
    model: Any,
    tokenizer: Any,
    req: Request,
    *,
    processor: ThinkingBudgetProcessor | None = None,
    clock: StepClock | None = None,
    streamer: Any = None,
    extra_processors: Sequence[Any] = (),
) -> Decoded:
    """Run ``req``'s rows through ``model.generate`` (the only call in the package), under the model lock."""
    pad = pad_id_of(tokenizer, req.eos)
    input_ids, mask = left_pad([p.ids for p in req.prepared], pad)  # (B, P)
    device = next(model.parameters()).device
    proc = processor if processor is not None else make_processor(model, tokenizer, req)
    processors = LogitsProcessorList([*extra_processors, *([proc] if proc else [])])
    clock = clock or StepClock(req.eos)
    if not len(clock.eos):
        clock.eos = torch.tensor(list(req.eos), dtype=torch.long)
    opts = req.options
    thinking_any = any(p.thinking for p in req.prepared)
    trace = None
    with hold(model, timeout=opts.timeout, what="generate"):
        recorder = capture_routing(model, keep_rows=clock.rows_to_record) if opts.capture else contextlib.nullcontext()
        start = time.perf_counter()
        with torch.inference_mode(), seeded(opts.seed, device), recorder as trace:
            out = model.generate(
                input_ids=input_ids.to(device),
                attention_mask=mask.to(device),
                max_new_tokens=req.max_new_tokens,
                logits_processor=processors,
                stopping_criteria=StoppingCriteriaList([clock]),
                streamer=streamer,
                eos_token_id=list(req.eos),
                pad_token_id=pad,
                num_beams=1,  # the budget processor follows rows; beam search would reorder them
                **opts.sampling_kwargs(thinking_any),
            )
        seconds = time.perf_counter() - start
    ttft = (clock.first_token_at - start) if clock.first_token_at else seconds
    generated = out[:, input_ids.shape[1] :].tolist()  # (B, G)
    forced = [proc.forced_mask(r, len(g)) if proc else [False] * len(g) for r, g in enumerate(generated)]
    return Decoded(generated, forced, Timing(ttft, seconds, clock.stopped), proc, trace)


def run(model: Any, tokenizer: Any, req: Request, **decoding: Any) -> list[Generation]:
    """``decode`` ``req`` (``decoding``: its keywords ``processor``, ``clock``, ``streamer``, ``extra_processors``)
    and build a Generation per row (each with its labelled trace when capturing)."""
    out = decode(model, tokenizer, req, **decoding)
    stop_text = out.processor.stop_text if out.processor else None
    gens = []
    for r, (g, f) in enumerate(zip(out.rows, out.forced)):
        gen = build_generation(tokenizer, req, r, g, f, out.timing, stop_text=stop_text)
        if out.trace is not None:
            row_trace = out.trace.select(seq=r) if len(req.prepared) > 1 else out.trace
            gen.trace = label_trace(row_trace, tokenizer, gen)
        gens.append(gen)
    return gens


def label_trace(trace: RoutingTrace, tokenizer: Any, gen: Generation) -> RoutingTrace:
    """Set ``trace.phase`` (prompt, then each generated token's label) and ``trace.tokens`` from ``gen``.

    The trace must be this generation's: one sequence whose token ids are ``gen``'s prompt and generated
    ids at their positions; ValueError otherwise (e.g. a trace of another call).
    """
    full_ids = gen.prompt_ids + gen.token_ids
    codes = [phase_id(PROMPT)] * len(gen.prompt_ids) + [phase_id(lab) for lab in gen.labels]
    positions = trace.position.tolist()
    if len(set(trace.seq_index.tolist())) > 1:
        raise ValueError("label_trace needs the trace of one sequence; select it first (trace.select(seq=...))")
    if any(p >= len(full_ids) for p in positions) or [full_ids[p] for p in positions] != trace.token_ids.tolist():
        raise ValueError(
            "the trace's token ids are not this generation's (prompt + generated tokens at their positions); "
            "label a trace with the Generation it was captured with"
        )
    trace.phase = torch.tensor([codes[p] for p in positions], dtype=torch.int8)
    trace.tokens = [tokenizer.decode([full_ids[p]], skip_special_tokens=False) for p in positions]
    return trace
