"""run_agent / stream_agent on Qwen3's real template (and the bundled model's): the loop calls the tool and
feeds its result back, every fault the model can make becomes a tool message instead of a crash, the
budget counts thinking over the whole episode, and the episode trace labels every phase. The random model
is made to write scripted turns (``qwen3.scripted``); the loop, parser, template and engine run for real."""

from __future__ import annotations

import pytest
from qwen3 import qwen3_moe, qwen3_tokenizer, scripted, turns
from qwen3 import tool_call as call

from qnext_lab.thinking.agent import run_agent, stream_agent
from qnext_lab.trace.phases import PHASES


def multiply(a: int, b: int) -> int:
    """Multiply two integers.

    Args:
        a: the first factor
        b: the second factor
    """
    return a * b


def divide(a: int, b: int) -> float:
    """Divide a by b.

    Args:
        a: the dividend
        b: the divisor
    """
    return a / b


@pytest.fixture(scope="module")
def tok():
    return qwen3_tokenizer()


@pytest.fixture(scope="module")
def model(tok):
    return qwen3_moe(tok)


def test_the_loop_calls_the_tool_and_answers_from_its_result(model, tok):
    script = turns(
        tok,
        "<think>\nneed the tool\n</think>\n\n" + call(a=1234, b=5678),
        "<think>\nit said 7006652\n</think>\n\n7006652",
    )
    with scripted(model, script):
        run = run_agent(model, tok, "What is 1234 * 5678?", [multiply], max_new_tokens=60)
    assert run.finish_reason == "answer" and run.answer == "7006652" and len(run.turns) == 2
    [result] = run.turns[0].results
    assert result.ok and result.content == "7006652" and result.call.arguments == {"a": 1234, "b": 5678}
    assert run.messages[-2] == {"role": "tool", "name": "multiply", "content": "7006652"}
    # the second prompt holds the first turn exactly as the model wrote it, then the rendered tool response
    first, second = run.generations
    assert second.prompt_ids[: len(first.prompt_ids) + len(first.token_ids)] == first.prompt_ids + first.token_ids
    assert "<tool_response>\n7006652\n</tool_response>" in second.prompt


def test_the_episode_trace_holds_each_token_once_with_every_phase(model, tok):
    script = turns(tok, "<think>\nneed the tool\n</think>\n\n" + call(a=2, b=3), "<think>\nok\n</think>\n\n6")
    with scripted(model, script):
        run = run_agent(model, tok, "What is 2 * 3?", [multiply], max_new_tokens=60)
    last = run.generations[-1]
    episode = last.prompt_ids + last.token_ids
    trace = run.trace
    assert trace.position.tolist() == list(range(len(episode) - 1))  # every token once, in order
    assert trace.token_ids.tolist() == episode[:-1]
    names = [PHASES[p] for p in trace.phase.tolist()]
    assert set(names) == set(PHASES)
    first = run.generations[0]
    start, stop = first.tool_calls[0].span
    offset = len(first.prompt_ids)
    assert names[offset + start : offset + stop] == ["tool_call"] * (stop - start)
    inserted = names[len(first.prompt_ids) + len(first.token_ids) : len(last.prompt_ids)]
    assert inserted and set(inserted) == {"tool_response"}
    assert trace.tokens is not None and len(trace.tokens) == trace.num_tokens


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (call("square", x=3), "unknown tool 'square'"),
        ('<tool_call>\n{"name": "multiply", "arguments": {"a": 2,\n</tool_call>', "not valid JSON"),
        (call("divide", a=1, b=0), "divide raised ZeroDivisionError"),
        (call(a=1), "multiply needs the argument 'b'"),
    ],
)
def test_faults_become_tool_messages_the_model_reads(model, tok, bad, message):
    with scripted(model, turns(tok, bad, "sorry")):
        run = run_agent(model, tok, "q", [multiply, divide], max_new_tokens=40, thinking=False)
    [result] = run.turns[0].results
    assert not result.ok and message in result.error
    assert run.messages[-2]["role"] == "tool" and run.messages[-2]["content"].startswith("error: ")
    assert message in run.generations[1].prompt and run.finish_reason == "answer" and run.answer == "sorry"


def test_a_tool_offered_only_as_a_schema_is_answered_with_an_error(model, tok):
    schema = {
        "type": "function",
        "function": {"name": "lookup", "description": "Look up.", "parameters": {"type": "object", "properties": {}}},
    }
    with scripted(model, turns(tok, call("lookup"), "done")):
        run = run_agent(model, tok, "q", [multiply, schema], max_new_tokens=40, thinking=False)
    assert "offered as a JSON schema only" in run.turns[0].results[0].error and run.answer == "done"


def test_calls_beyond_max_turns_are_refused_in_a_tool_message(model, tok):
    script = turns(tok, call(a=1, b=2), call(a=3, b=4), call(a=5, b=6))
    with scripted(model, script):
        run = run_agent(model, tok, "q", [multiply], max_turns=1, max_new_tokens=40, thinking=False)
    assert run.finish_reason == "max_turns" and len(run.turns) == 2 and run.answer == ""
    assert run.turns[0].results[0].content == "2"
    assert "max_turns=1" in run.turns[1].results[0].error and run.messages[-1]["content"].startswith("error: ")


def test_the_budget_counts_thinking_over_the_whole_episode(model, tok):
    stop = "\nstop\n</think>\n\n"
    script = turns(
        tok,
        "<think>\na b c\n</think>\n\n" + call(a=2, b=3),
        "<think>\none two three four five six seven eight nine\n</think>\n\n6",
    )
    with scripted(model, script):
        run = run_agent(model, tok, "q", [multiply], budget=6, max_new_tokens=60, stop_text=stop)
    first, second = run.generations
    assert first.budget == 6 and not first.budget_hit
    assert second.budget == 6 - first.thinking_tokens and second.budget_hit
    assert run.thinking_tokens == 6


def test_stream_agent_yields_every_phase_including_tool_results(model, tok):
    script = turns(tok, "<think>\nneed it\n</think>\n\n" + call(a=6, b=7), "<think>\nok\n</think>\n\n42")
    with scripted(model, script):
        stream = stream_agent(model, tok, "q", [multiply], max_new_tokens=60)
        pieces = list(stream)
    run = stream.result
    assert {p.phase for p in pieces} == {"thinking", "tool_call", "tool_response", "answer"}
    [response] = [p for p in pieces if p.phase == "tool_response"]
    assert response.text == "42" and response.token_id is None and response.turn == 0
    assert [p.token_id for p in pieces if p.token_id is not None] == [t for g in run.generations for t in g.token_ids]
    assert run.answer == "42"
    assert pieces[-1].thinking_tokens == run.thinking_tokens  # running counts span the episode
    assert pieces[-1].answer_tokens == sum(g.answer_tokens for g in run.generations)


def test_bad_arguments_are_refused_before_any_model_call(model, tok):
    with pytest.raises(ValueError, match="at least one tool"):
        run_agent(model, tok, "q", [])
    with pytest.raises(TypeError, match="docstring"):
        run_agent(model, tok, "q", [lambda a: a])
    with pytest.raises(ValueError, match="max_turns"):
        run_agent(model, tok, "q", [multiply], max_turns=0)


def test_a_conversation_that_outgrows_the_context_ends_the_run_with_a_reason(model, tok):
    with scripted(model, turns(tok, "x")):
        probe = run_agent(model, tok, "q", [multiply], max_new_tokens=4, thinking=False)
    room = model.config.max_position_embeddings - len(probe.generations[0].prompt_ids)
    with scripted(model, turns(tok, call(a=2, b=3))):
        run = run_agent(model, tok, "q", [multiply], max_new_tokens=room, thinking=False)
    assert run.finish_reason == "context" and "context" in run.error and len(run.turns) == 1
    assert run.turns[0].results[0].content == "6"


def test_stream_agent_takes_the_sampling_options_and_samples_as_run_agent(model, tok):
    options = dict(max_turns=1, max_new_tokens=12, do_sample=True, seed=11, temperature=1.3, top_k=0, capture=False)
    ran = run_agent(model, tok, "What is 2 * 3?", [multiply], **options)
    with stream_agent(model, tok, "What is 2 * 3?", [multiply], **options) as stream:
        list(stream)
    streamed = stream.result
    assert [g.token_ids for g in streamed.generations] == [g.token_ids for g in ran.generations]
    assert ran.generations[0].options.do_sample and ran.generations[0].options.seed == 11
    other = run_agent(model, tok, "What is 2 * 3?", [multiply], **{**options, "seed": 12})
    assert [g.token_ids for g in other.generations] != [g.token_ids for g in ran.generations]  # the seed is used


def test_min_thinking_counts_over_the_episode(model, tok):
    script = turns(tok, "<think>\nab\n</think>\n\n" + call(a=2, b=3), "<think>\nok\n</think>\n\n6")
    with scripted(model, script):
        run = run_agent(model, tok, "What is 2 * 3?", [multiply], max_new_tokens=40, min_thinking=8, budget=30)
    first, second = run.generations
    assert first.options.min_thinking == 8 and first.thinking_tokens >= 8  # "Wait" forced before an early </think>
    # the second turn is asked for what the episode still lacks (nothing) and gets what the budget has left
    assert second.options.min_thinking is None and second.options.budget == 30 - first.thinking_tokens
