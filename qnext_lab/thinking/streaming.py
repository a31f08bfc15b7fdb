"""stream_generate(): generation in a background thread, yielding one labelled ``Piece`` per token (its
text, phase "thinking"/"answer", whether it was forced, and the running thinking/answer counts).

``PhaseStreamer`` is a transformers ``BaseStreamer`` (``put``/``end``), so it also works as
``model.generate(..., streamer=PhaseStreamer(...))``. The stream stops cleanly when it is closed, left by
``with``/``break`` + ``close()``, garbage-collected, or interrupted (KeyboardInterrupt while waiting): a
StoppingCriteria flag ends ``model.generate`` at the next step. A widget calls ``consume(on_piece)`` to
run the loop off the kernel's event thread. Knows nothing about widgets.

    with stream_generate(model, tok, "What is 12 + 30?", budget=8) as stream:
        for piece in stream: print(piece.phase, piece.text, piece.thinking_tokens)
    stream.result.answer
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from transformers.generation.streamers import BaseStreamer

from .budget import ThinkingBudgetProcessor
from .generate import (
    Generation,
    Prepared,
    Request,
    SamplingOptions,
    StepClock,
    label_trace,
    make_processor,
    make_request,
    run,
)
from .phases import ANSWER, RowPhase
from .template import PromptLike, ThinkTokens

_END = object()


@dataclass(frozen=True)
class Piece:
    """One generated token as text (may be "" for delimiters), with its phase and the running counts."""

    text: str
    phase: str  # "thinking" | "answer"
    forced: bool  # part of the forced stop text
    token_id: int
    thinking_tokens: int
    answer_tokens: int


class PhaseStreamer(BaseStreamer):
    """Turns the token ids ``generate`` streams (batch of one) into labelled text pieces on a queue.

    Text is decoded per run of same-phase tokens, so multi-byte characters split over tokens come out
    whole; the think delimiters and end-of-turn tokens yield empty text.
    """

    def __init__(
        self,
        tokenizer: Any,
        prepared: Prepared,
        tokens: ThinkTokens | None,
        eos: tuple[int, ...],
        processor: ThinkingBudgetProcessor | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.processor = processor
        self.row = RowPhase(tokens, prepared.state) if tokens is not None else None
        self.eos = eos
        self.hidden = set(eos) | ({tokens.start_id, tokens.end_id} if tokens else set())
        self.queue: queue.Queue = queue.Queue()
        self._prompt_seen = False
        self._segment: tuple[str, bool] | None = None
        self._segment_ids: list[int] = []
        self._emitted = ""
        self._answer_tokens = 0
        self._done = False

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_seen:  # the first call carries the prompt
            self._prompt_seen = True
            return
        ids = value.reshape(-1).tolist()
        if len(ids) != 1:
            raise ValueError("PhaseStreamer streams one row; run a batch without a streamer")
        self._push(int(ids[0]))

    def end(self) -> None:
        self.queue.put(_END)

    def __iter__(self) -> Iterator[Piece]:
        """Pieces until ``generate`` ends (blocking), as with transformers' TextIteratorStreamer."""
        while (item := self.queue.get()) is not _END:
            yield item

    def _push(self, token: int) -> None:
        if self._done:
            return
        forced = self.processor.last_forced(0) if self.processor is not None else False
        if self.row is not None:
            phase = self.row.observe(token, forced)
            thinking_n, answer_n, self._done = self.row.thinking_tokens, self.row.answer_tokens, self.row.done
        else:
            self._done = token in self.eos
            self._answer_tokens += int(not self._done)
            phase, thinking_n, answer_n = ANSWER, 0, self._answer_tokens
        text = self._text(token, (phase, forced))
        self.queue.put(Piece(text, phase, forced, token, thinking_n, answer_n))

    def _text(self, token: int, segment: tuple[str, bool]) -> str:
        if segment != self._segment:
            self._segment, self._segment_ids, self._emitted = segment, [], ""
        if token in self.hidden:
            return ""
        self._segment_ids.append(token)
        decoded = self.tokenizer.decode(self._segment_ids, skip_special_tokens=True)
        if decoded.endswith("\ufffd"):  # an incomplete character: wait for the next token
            return ""
        new, self._emitted = decoded[len(self._emitted) :], decoded
        if decoded.endswith("\n"):  # a line is complete: start afresh so decoding stays O(line), not O(text)
            self._segment_ids, self._emitted = [], ""
        return new


@dataclass
class _Job:
    """What the generation thread touches. The thread holds only this, never the GenerationStream, so a
    stream that is dropped mid-generation is garbage-collected and its ``__del__`` stops the job."""

    processor: ThinkingBudgetProcessor | None
    streamer: PhaseStreamer
    clock: StepClock
    result: Generation | None = None
    error: BaseException | None = None

    def run(self, model: Any, tokenizer: Any, req: Request, capture: bool) -> None:
        try:
            kwargs = {"processor": self.processor, "clock": self.clock, "streamer": self.streamer}
            if capture:
                from qnext_lab.trace.capture import capture as capture_routing

                with capture_routing(model) as trace:
                    gen = run(model, tokenizer, req, **kwargs)[0]
                gen.trace = label_trace(trace, tokenizer, gen)
            else:
                gen = run(model, tokenizer, req, **kwargs)[0]
            self.result = gen
        except BaseException as err:  # handed to the consumer in __next__
            self.error = err
            self.streamer.end()


class GenerationStream:
    """An iterator of ``Piece`` over a generation running in a background thread.

    ``result`` holds the final ``Generation`` once the iterator is exhausted; ``close()`` stops early
    (``result.finish_reason == "stopped"``).
    """

    def __init__(self, model: Any, tokenizer: Any, req: Request, capture: bool = False) -> None:
        processor = make_processor(model, tokenizer, req)
        streamer = PhaseStreamer(tokenizer, req.prepared[0], req.tokens, req.eos, processor)
        self._job = _Job(processor, streamer, StepClock())
        self._finished = False
        args = (model, tokenizer, req, capture)
        self._thread = threading.Thread(target=self._job.run, args=args, name="qnext-generate", daemon=True)
        self._thread.start()

    @property
    def result(self) -> Generation | None:
        """The finished Generation (None until the generation thread is done)."""
        return self._job.result

    def __iter__(self) -> GenerationStream:
        return self

    def __next__(self) -> Piece:
        if self._finished:
            raise StopIteration
        try:
            item = self._next_item()
        except BaseException:  # KeyboardInterrupt while waiting: stop the generation, then re-raise
            self.close()
            raise
        if item is _END:
            self._finished = True
            self._thread.join()
            if self._job.error is not None:
                raise self._job.error
            raise StopIteration
        return item

    def _next_item(self) -> Any:
        while True:  # short waits keep the consumer interruptible
            try:
                return self._job.streamer.queue.get(timeout=0.1)
            except queue.Empty:
                if not self._thread.is_alive() and self._job.streamer.queue.empty():
                    return _END

    def close(self, timeout: float | None = 30.0) -> None:
        """Stop generating (at the next step) and wait for the thread to finish."""
        self._job.clock.stop = True
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._finished = True

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def consume(
        self, on_piece: Callable[[Piece], None], on_done: Callable[[Generation | None], None] | None = None
    ) -> threading.Thread:
        """Iterate in a daemon thread, calling ``on_piece`` per piece and ``on_done(result)`` at the end."""

        def loop() -> None:
            for piece in self:
                on_piece(piece)
            if on_done is not None:
                on_done(self.result)

        thread = threading.Thread(target=loop, name="qnext-stream-consumer", daemon=True)
        thread.start()
        return thread

    def __enter__(self) -> GenerationStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        job = getattr(self, "_job", None)
        if job is not None:
            job.clock.stop = True


def stream_generate(
    model: Any,
    tokenizer: Any,
    prompt_or_messages: PromptLike,
    *,
    thinking: bool = True,
    budget: int | None = None,
    max_new_tokens: int | None = None,
    min_thinking: int | None = None,
    stop_text: str | None = None,
    do_sample: bool = False,
    temperature: float | None = None,
    top_p: float | None = None,
    top_k: int | None = None,
    seed: int | None = None,
    capture: bool = False,
) -> GenerationStream:
    """Start ``generate`` (same arguments) in a background thread; iterate the result for ``Piece``s."""
    if not isinstance(capture, bool):
        raise TypeError(f"capture must be True or False, got {capture!r}")
    sampling = SamplingOptions(do_sample, temperature, top_p, top_k, seed)
    req = make_request(
        model, tokenizer, [prompt_or_messages], thinking=thinking, budget=budget, max_new_tokens=max_new_tokens,
        min_thinking=min_thinking, stop_text=stop_text, sampling=sampling,
    )
    return GenerationStream(model, tokenizer, req, capture=capture)
