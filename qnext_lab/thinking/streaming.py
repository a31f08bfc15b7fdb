"""Streaming: generation in a background thread, yielding one labelled ``Piece`` per token (its text, phase
"thinking"/"tool_call"/"answer", whether it was forced, and the running counts), plus "tool_response" pieces
when an agent run streams its tool results.

``PhaseStreamer`` is a transformers ``BaseStreamer`` (``put``/``end``), so it also works as the
``streamer=`` of transformers' generate. ``GenerationStream`` runs any job that emits pieces
(one ``generate``, or a whole ``run_agent`` episode) on a thread that holds the model, and stops it cleanly
when it is closed, left by ``with``/``break`` + ``close()``, garbage-collected, or interrupted
(KeyboardInterrupt while waiting): a cancel flag ends ``model.generate`` at the next step. A widget calls
``consume(on_piece)`` to run the loop off the kernel's event thread. Knows nothing about widgets.

    with stream_generate(model, tok, "What is 12 + 30?", budget=8) as stream:
        for piece in stream: print(piece.phase, piece.text, piece.thinking_tokens)
    stream.result.answer
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers.generation.streamers import BaseStreamer

from ..trace.lock import held_here
from .budget import ThinkingBudgetProcessor
from .engine import StepClock, make_processor, run
from .phases import RowPhase
from .request import GenerationOptions, Prepared, make_request, takes_options
from .result import Generation
from .template import PromptLike, ThinkTokens
from .tools import Tool, tool_schemas

_END = object()


@dataclass(frozen=True)
class Piece:
    """One generated token as text (may be "" for delimiters), with its phase and the running counts (over
    the whole episode in an agent stream); or, in an agent stream, one tool result (phase "tool_response",
    ``token_id`` None)."""

    text: str
    phase: str  # "thinking" | "tool_call" | "answer" | "tool_response"
    forced: bool  # part of the forced stop text
    token_id: int | None
    thinking_tokens: int
    answer_tokens: int
    turn: int = 0  # agent turn (0 for a single generation)


class PhaseStreamer(BaseStreamer):
    """Turns the token ids ``generate`` streams (batch of one) into labelled text pieces on a queue.

    Text is decoded per run of same-phase tokens, so multi-byte characters split over tokens come out
    whole; the think delimiters and end-of-turn tokens yield empty text. Tokens that may still turn out to be
    the start of a multi-token ``<tool_call>`` tag are held back until their label is known.
    """

    def __init__(
        self,
        tokenizer: Any,
        prepared: Prepared,
        tokens: ThinkTokens,
        processor: ThinkingBudgetProcessor | None = None,
        *,
        sink: queue.Queue | None = None,
        turn: int = 0,
        counted_before: tuple[int, int] = (0, 0),
    ) -> None:
        self.tokenizer = tokenizer
        self.processor = processor
        self.row = RowPhase(tokens, prepared.state)
        self.hidden = set(tokens.eos_ids) | ({tokens.start_id, tokens.end_id} if tokens.has_think else set())
        self.owns_queue = sink is None
        self.queue: queue.Queue = queue.Queue() if sink is None else sink
        self.turn = turn
        self.counted_before = counted_before  # (thinking, answer) tokens of earlier turns of an agent episode
        self._prompt_seen = False
        self._forced: list[bool] = []
        self._sent = 0  # tokens already turned into pieces
        self._segment: tuple[str, bool] | None = None
        self._segment_ids: list[int] = []
        self._emitted = ""

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_seen:  # the first call carries the prompt
            self._prompt_seen = True
            return
        ids = value.reshape(-1).tolist()
        if len(ids) != 1:
            raise ValueError("PhaseStreamer streams one row; run a batch without a streamer")
        if self.row.done:
            return
        forced = self.processor.last_forced(0) if self.processor is not None else False
        self.row.observe(int(ids[0]), forced)
        self._forced.append(forced)
        self._flush(len(self.row.labels) - self.row.undecided)

    def end(self) -> None:
        self._flush(len(self.row.labels))
        if self.owns_queue:
            self.queue.put(_END)

    def __iter__(self) -> Iterator[Piece]:
        """Pieces until ``generate`` ends (blocking), as with transformers' TextIteratorStreamer."""
        while (item := self.queue.get()) is not _END:
            yield item

    def _flush(self, upto: int) -> None:
        row = self.row
        for i in range(self._sent, upto):
            token, phase, forced = row._ids[i], row.labels[i], self._forced[i]
            text = self._text(token, (phase, forced))
            thinking_n, answer_n = self.counted_before
            self.queue.put(
                Piece(
                    text,
                    phase,
                    forced,
                    token,
                    thinking_n + row.thinking_tokens,
                    answer_n + row.answer_tokens,
                    self.turn,
                )
            )
        self._sent = max(self._sent, upto)

    def _text(self, token: int, segment: tuple[str, bool]) -> str:
        if segment != self._segment:
            self._segment, self._segment_ids, self._emitted = segment, [], ""
        if token in self.hidden:
            return ""
        self._segment_ids.append(token)
        decoded = self.tokenizer.decode(self._segment_ids, skip_special_tokens=segment[0] != "tool_call")
        if decoded.endswith("\ufffd"):  # an incomplete character: wait for the next token
            return ""
        new, self._emitted = decoded[len(self._emitted) :], decoded
        if decoded.endswith("\n"):  # a line is complete: start afresh so decoding stays O(line), not O(text)
            self._segment_ids, self._emitted = [], ""
        return new


class StreamJob:
    """What the worker thread touches: the piece queue, the cancel flag, the result. The thread holds only
    this, never the GenerationStream, so a stream dropped mid-generation is garbage-collected and its
    ``__del__`` cancels the job."""

    def __init__(self, work: Callable[[StreamJob], Any]) -> None:
        self.work = work
        self.queue: queue.Queue = queue.Queue()
        self.cancel = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None

    def clock(self, eos: tuple[int, ...]) -> StepClock:
        """A step clock for one ``model.generate`` of this job, stopped by the job's cancel flag."""
        return StepClock(eos, cancel=self.cancel)

    def emit(self, piece: Piece) -> None:
        self.queue.put(piece)

    def run(self) -> None:
        try:
            self.result = self.work(self)
        except BaseException as err:  # handed to the consumer in __next__
            self.error = err
        finally:
            self.queue.put(_END)


class GenerationStream:
    """An iterator of ``Piece`` over a job running in a background thread.

    ``result`` holds the job's result (a ``Generation``; an ``AgentRun`` for ``stream_agent``) once the
    iterator is exhausted; ``close()`` stops early (``finish_reason == "stopped"``).

    When the calling thread already holds ``model``'s lock (inside ``capture``, ``intervene`` or ``hold``),
    the job runs here, to the end, before the first piece is handed out: a background thread would wait for
    that lock forever, and the caller's capture and intervention apply only to its own thread.
    """

    def __init__(self, work: Callable[[StreamJob], Any], name: str = "qnext-generate", *, model: Any = None) -> None:
        self._job = StreamJob(work)
        self._finished = False
        self._thread: threading.Thread | None = None
        if model is not None and held_here(model):
            self._job.run()  # fills the queue, then _END
            return
        self._thread = threading.Thread(target=self._job.run, name=name, daemon=True)
        self._thread.start()

    @property
    def result(self) -> Any:
        """The finished result (None until the worker thread is done)."""
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
            if self._thread is not None:
                self._thread.join()
            if self._job.error is not None:
                raise self._job.error
            raise StopIteration
        return item

    def _next_item(self) -> Any:
        while True:  # short waits keep the consumer interruptible
            try:
                return self._job.queue.get(timeout=0.1)
            except queue.Empty:
                if not self.running and self._job.queue.empty():
                    return _END

    def close(self, timeout: float | None = 30.0) -> None:
        """Stop generating (at the next step) and wait for the thread to finish."""
        self._job.cancel.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._finished = True

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def consume(
        self, on_piece: Callable[[Piece], None], on_done: Callable[[Any], None] | None = None
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
            job.cancel.set()


@takes_options()
def stream_generate(
    model: Any,
    tokenizer: Any,
    prompt_or_messages: PromptLike,
    *,
    options: GenerationOptions,
    tools: Sequence[Tool] | None = None,
) -> GenerationStream:
    """Start ``generate`` (same arguments) in a background thread; iterate the result for ``Piece``s."""
    options.one_budget("stream_generate")
    req = make_request(model, tokenizer, [prompt_or_messages], options, tool_schemas(tools))

    def work(job: StreamJob) -> Generation:
        processor = make_processor(model, tokenizer, req)
        streamer = PhaseStreamer(tokenizer, req.prepared[0], req.tokens, processor, sink=job.queue)
        return run(model, tokenizer, req, processor=processor, clock=job.clock(req.eos), streamer=streamer)[0]

    return GenerationStream(work, model=model)
