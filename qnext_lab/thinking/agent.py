"""run_agent(): the tool loop Qwen-Agent runs (generate, parse the tool calls, call the functions, append
``tool`` messages, generate again) on the generation engine, with one routing trace of the whole episode.

Each turn is an ordinary engine generation of the conversation so far (re-rendered by the chat template,
tools offered), so budgets, capture and the model lock behave as in ``generate``. The assistant's turn is
appended as the text it generated (think block and ``<tool_call>`` spans included), so the next prompt holds
exactly what the model wrote. Nothing the model does crashes the run: an unknown tool, a malformed call,
arguments that do not fit the function's signature (checked before it runs), a function that raises, a result
that cannot be written as text, or a call beyond ``max_turns`` rounds / ``max_calls`` calls becomes a ``tool``
message the model reads (and the run records); results are cut to ``tool_arguments.MAX_RESULT_CHARS``. ``stream_agent`` streams every phase, tool results included.

The episode trace holds every token once, in order: turn 1's prompt and output, then for each later turn
the tokens the loop inserted (labelled "tool_response": the tool results as the template renders them) and
the new output. Knows nothing about widgets or figures.

    run = run_agent(model, tok, "What is 1234 * 5678?", [multiply], budget=64)
    run.answer, [c.name for t in run.turns for c in t.generation.tool_calls], run.trace
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..checks import as_int
from ..trace.phases import PROMPT, TOOL_RESPONSE, phase_id
from ..trace.routing_trace import RoutingTrace
from .engine import make_processor, run
from .request import ContextOverflowError, GenerationOptions, make_request, takes_options
from .result import Generation
from .streaming import GenerationStream, PhaseStreamer, Piece, StreamJob
from .template import PromptLike, to_messages
from .tools import Tool, ToolCall, call_tool, tool_functions, tool_schemas


@dataclass(frozen=True)
class ToolResult:
    """What one tool call returned (``content`` is the ``tool`` message the model reads next)."""

    call: ToolCall
    content: str
    error: str | None  # None when the function ran and returned

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class AgentTurn:
    """One generation of the episode and the tool results it led to."""

    generation: Generation
    results: list[ToolResult] = field(default_factory=list)


@dataclass
class AgentRun:
    """A whole agent episode.

    ``finish_reason``: "answer" (a turn ended without tool calls), "max_turns" (the model kept calling tools
    after the limit), "max_new_tokens" (a turn was cut off), "stopped" (a stream was closed), "context" (the
    conversation no longer fits the model's context; ``error`` says so).
    """

    messages: list[dict[str, Any]]  # the conversation, the model's turns and the tool messages included
    turns: list[AgentTurn]
    answer: str
    finish_reason: str
    budget: int | None  # thinking tokens allowed over the whole episode
    trace: RoutingTrace | None = None  # the whole episode, phases prompt/thinking/tool_call/tool_response/answer
    error: str | None = None

    @property
    def generations(self) -> list[Generation]:
        return [t.generation for t in self.turns]

    @property
    def tool_calls(self) -> list[ToolCall]:
        return [c for t in self.turns for c in t.generation.tool_calls]

    @property
    def thinking_tokens(self) -> int:
        """Thinking tokens over the episode (what the budget counts)."""
        return sum(g.thinking_tokens for g in self.generations)

    def __repr__(self) -> str:
        return (
            f"AgentRun(turns={len(self.turns)}, tool_calls={[c.name for c in self.tool_calls]}, "
            f"thinking_tokens={self.thinking_tokens}, finish_reason={self.finish_reason!r}, "
            f"answer={self.answer[:60]!r})"
        )


MAX_TURNS = 1_000  # a ceiling for max_turns / max_calls: each round is a whole generation


def _check_episode(call: str, options: GenerationOptions, max_turns: Any, max_calls: Any) -> tuple[int, int]:
    """The checks of an agent episode before it starts: one budget, and the (max_turns, max_calls) limits."""
    options.one_budget(call, " for the whole episode")
    turns = as_int(max_turns, "max_turns", low=1, high=MAX_TURNS, hint=" (tool-call rounds allowed)")
    if max_calls is None:
        return turns, turns
    return turns, as_int(max_calls, "max_calls", low=1, high=MAX_TURNS, hint=" (tool calls run per episode)")


def _episode_trace(turns: Sequence[AgentTurn]) -> RoutingTrace | None:
    """One trace of the episode: each token once, later turns' inserted prompt tokens as tool_response."""
    pieces, covered, previous = [], 0, None  # previous: (full ids, full phase ids) of the last turn
    for turn in turns:
        gen, trace = turn.generation, turn.generation.trace
        if trace is None:
            return None
        if previous is None:
            keep_from = 0
        else:
            prev_ids, prev_codes = previous
            common = 0
            for a, b in zip(gen.prompt_ids, prev_ids):
                if a != b:
                    break
                common += 1
            keep_from = min(common, covered)
        positions = trace.position
        part = trace.select(mask=positions >= keep_from)
        if previous is not None and part.phase is not None:
            codes = part.phase.clone()
            for n, p in enumerate(part.position.tolist()):
                if p < len(gen.prompt_ids):
                    codes[n] = prev_codes[p] if p < common else phase_id(TOOL_RESPONSE)
            part.phase = codes
        part.seq_index = part.seq_index * 0
        pieces.append(part)
        if len(part):
            covered = int(part.position.max()) + 1
        full_codes = [phase_id(PROMPT)] * len(gen.prompt_ids) + [phase_id(lab) for lab in gen.labels]
        if previous is not None:
            prev_ids, prev_codes = previous
            full_codes[:common] = prev_codes[:common]
            full_codes[common : len(gen.prompt_ids)] = [phase_id(TOOL_RESPONSE)] * (len(gen.prompt_ids) - common)
        previous = (gen.prompt_ids + gen.token_ids, full_codes)
    return RoutingTrace.concat(pieces, renumber_sequences=False) if pieces else None


def _agent_loop(
    model: Any,
    tokenizer: Any,
    messages: PromptLike,
    tools: Sequence[Tool],
    options: GenerationOptions,
    limits: tuple[int, int],
    job: StreamJob | None = None,
) -> AgentRun:
    max_turns, max_calls = limits
    conversation = to_messages(messages)
    schemas, functions = tool_schemas(tools), tool_functions(tools)
    if not schemas:
        raise ValueError("run_agent needs at least one tool; use generate() for a plain turn")
    budget = options.budget
    turns: list[AgentTurn] = []
    finish, error = "answer", None
    for t in range(max_turns + 1):  # max_turns tool rounds, then one last turn to answer
        used = sum(turn.generation.thinking_tokens for turn in turns)
        remaining = None if budget is None else max(budget - used, 0)
        still = None if options.min_thinking is None else (max(options.min_thinking - used, 0) or None)
        turn_options = options.replace(budget=remaining, min_thinking=still)
        try:
            req = make_request(model, tokenizer, [conversation], turn_options, schemas)
        except ContextOverflowError as err:
            if not turns:
                raise
            finish, error = "context", str(err)
            break
        if job is None:
            gen = run(model, tokenizer, req)[0]
        else:
            processor = make_processor(model, tokenizer, req)
            answered = sum(turn.generation.answer_tokens for turn in turns)
            streamer = PhaseStreamer(
                tokenizer,
                req.prepared[0],
                req.tokens,
                processor,
                sink=job.queue,
                turn=t,
                counted_before=(used, answered),
            )
            gen = run(model, tokenizer, req, processor=processor, clock=job.clock(req.eos), streamer=streamer)[0]
        turn = AgentTurn(gen)
        turns.append(turn)
        conversation.append({"role": "assistant", "content": _assistant_content(tokenizer, gen)})
        if gen.finish_reason in ("stopped", "max_new_tokens"):
            finish = gen.finish_reason
            break
        if not gen.tool_calls:
            finish = "answer"
            break
        for call in gen.tool_calls:
            ran = sum(len(turn.results) for turn in turns)
            if t >= max_turns or ran >= max_calls:
                which = f"max_turns={max_turns}" if t >= max_turns else f"max_calls={max_calls}"
                limit = f"the tool-call limit ({which}) is reached; answer without tools"
                result = ToolResult(call, f"error: {limit}", limit)
            else:
                offered = [sch["function"]["name"] for sch in schemas]
                result = ToolResult(call, *call_tool(call, functions, offered))
            turn.results.append(result)
            conversation.append({"role": "tool", "name": call.name or "unknown", "content": result.content})
            if job is not None:
                job.emit(
                    Piece(
                        result.content,
                        TOOL_RESPONSE,
                        False,
                        None,
                        used + gen.thinking_tokens,
                        sum(turn.generation.answer_tokens for turn in turns),
                        t,
                    )
                )
        if t >= max_turns:
            finish = "max_turns"
            break
    last = turns[-1].generation if turns else None
    answer = last.answer if last is not None and not last.tool_calls else ""
    trace = _episode_trace(turns) if options.capture and turns else None
    return AgentRun(conversation, turns, answer, finish, budget, trace, error)


def _assistant_content(tokenizer: Any, gen: Generation) -> str:
    """The turn as the model wrote it (think block and tool-call tags kept, end-of-turn dropped); the chat
    template splits off the think block itself (Qwen3's and the bundled template do)."""
    eos = set(gen.token_ids[-1:]) if gen.finish_reason in ("eos", "budget") else set()
    ids = gen.token_ids[:-1] if eos else gen.token_ids
    return tokenizer.decode(list(ids), skip_special_tokens=False)


@takes_options(capture=True)
def run_agent(
    model: Any,
    tokenizer: Any,
    messages: PromptLike,
    tools: Sequence[Tool],
    *,
    options: GenerationOptions,
    max_turns: int = 4,
    max_calls: int | None = None,
) -> AgentRun:
    """Run the tool loop until the model answers without calling a tool.

    Args:
        messages: a user string or chat messages.
        tools: Python functions (typed, Google-style docstring; transformers builds their JSON schemas).
        options: a ``GenerationOptions`` and/or its fields as keywords, as in ``generate`` (``capture`` defaults
            to True here: one routing trace of the episode, ``AgentRun.trace``), with two episode rules:
            ``budget`` counts thinking over the *whole episode* (each turn gets what earlier turns left,
            thinking reopened later in a turn is counted too, and the stop text is only ever forced inside a
            think block, never inside a ``<tool_call>`` nor after ``</think>``), ``min_thinking`` likewise
            (each turn is asked for what earlier turns have not thought yet); ``max_new_tokens`` is per turn.
        max_turns: tool-call rounds allowed; a call after them is answered with a tool message saying the
            limit is reached (the model's last turn), and the run ends with ``finish_reason="max_turns"``.
        max_calls: tool calls *run* over the whole episode (default ``max_turns``, so by default one call
            per round); a model may write several calls in one turn, and each call past this bound is answered
            with a tool message saying the limit is reached instead of running. So at most ``max_calls``
            functions run and at most ``max_turns + 1`` generations happen, whatever the model writes.
            Both take Python or numpy/torch integers in [1, 1000].
    """
    return _agent_loop(
        model, tokenizer, messages, tools, options, _check_episode("run_agent", options, max_turns, max_calls)
    )


@takes_options(capture=True)
def stream_agent(
    model: Any,
    tokenizer: Any,
    messages: PromptLike,
    tools: Sequence[Tool],
    *,
    options: GenerationOptions,
    max_turns: int = 4,
    max_calls: int | None = None,
) -> GenerationStream:
    """``run_agent`` in a background thread: iterate for ``Piece``s of every phase (thinking, tool_call,
    answer, and one "tool_response" piece per tool result); ``stream.result`` is the ``AgentRun``."""
    limits = _check_episode("stream_agent", options, max_turns, max_calls)
    tool_schemas(tools)  # bad tools raise here, in the caller's thread

    def work(job: StreamJob) -> AgentRun:
        return _agent_loop(model, tokenizer, messages, tools, options, limits, job)

    return GenerationStream(work, name="qnext-agent", model=model)
