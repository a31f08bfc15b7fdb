"""generate(tools=) and run_agent on the bundled qnext-tiny: its template renders the tool list compactly and
its character tokenizer spells ``<tool_call>`` over several tokens. The model is made to write scripted turns,
so this checks the rendering, the multi-token tags and the loop, not what the model has learnt."""

from __future__ import annotations

import json

import pytest
from qwen3 import scripted

from qnext_lab.thinking.agent import run_agent
from qnext_lab.thinking.generation import generate
from qnext_lab.thinking.template import think_tokens
from qnext_lab.tiny.paths import tiny_path
from qnext_lab.tiny.tasks import multiply
from qnext_lab.trace.phases import PHASES

pytestmark = pytest.mark.skipif(
    not (tiny_path(check=False) / "config.json").is_file(), reason="bundled qnext-tiny checkpoint not trained yet"
)

CALL = "<tool_call>\n" + json.dumps({"name": "multiply", "arguments": {"a": 478, "b": 356}}) + "\n</tool_call>"


@pytest.fixture(scope="module")
def tiny():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = tiny_path()
    return AutoModelForCausalLM.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


def test_the_bundled_template_renders_the_tool(tiny):
    model, tok = tiny
    g = generate(model, tok, "What is 478 * 356?", tools=[multiply], max_new_tokens=2)
    assert "multiply(a, b)" in g.prompt and g.tools[0]["function"]["name"] == "multiply"


def test_the_loop_runs_on_the_bundled_model(tiny):
    model, tok = tiny
    assert len(think_tokens(tok).tool_start) >= 1
    enc = lambda text: tok.encode(text + "<|im_end|>", add_special_tokens=False)  # noqa: E731
    with scripted(model, [enc("<think>\nuse the tool\n</think>\n\n" + CALL), enc("<think>\nok\n</think>\n\n170168")]):
        run = run_agent(model, tok, "What is 478 * 356?", [multiply], max_new_tokens=160)
    first, second = run.generations
    [call] = first.tool_calls
    assert (call.name, call.arguments, call.ok) == ("multiply", {"a": 478, "b": 356}, True)
    assert tok.decode(first.token_ids[slice(*call.span)]) == CALL  # the tag's first characters relabelled too
    assert first.thinking == "use the tool" and first.answer == ""
    assert run.turns[0].results[0].content == "170168" and run.answer == "170168"
    assert "<tool_response>\n170168\n</tool_response>" in second.prompt
    assert set(PHASES[p] for p in run.trace.phase.tolist()) == set(PHASES)
