"""AgentView and the agent figures on a scripted episode (Qwen3's real template, a random Qwen3-MoE made to
call a tool): the episode HTML escapes model and tool text, the lift figure has one heatmap per phase, the
widget streams on its worker, creates its figure pane with a figure, and close() stops everything."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "thinking"))
from qwen3 import qwen3_moe, qwen3_tokenizer, scripted

from qnext_lab.figures.agent import agent_episode_html, phase_lift, phase_lift_figure
from qnext_lab.thinking.agent import run_agent
from qnext_lab.widgets.agent_view import AgentView

XSS = "<img src=x onerror=alert(1)>"


def shout(text: str) -> str:
    """Return the text in capitals.

    Args:
        text: what to shout
    """
    return XSS + text.upper()


@pytest.fixture(scope="module")
def tok():
    return qwen3_tokenizer()


@pytest.fixture(scope="module")
def model(tok):
    return qwen3_moe(tok)


def script(tok):
    call = "<tool_call>\n" + json.dumps({"name": "shout", "arguments": {"text": "hi"}}) + "\n</tool_call>"
    texts = ["<think>\n" + XSS + "\n</think>\n\n" + call, "<think>\nok\n</think>\n\n" + XSS]
    return [tok.encode(t + "<|im_end|>", add_special_tokens=False) for t in texts]


def test_episode_html_escapes_every_text_and_shows_each_step(model, tok):
    with scripted(model, script(tok)):
        run = run_agent(model, tok, "shout hi", [shout], max_new_tokens=60)
    html = agent_episode_html(run)
    assert XSS not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    for part in ("thinking", "tool call", "shout(", "tool result", "HI", "answer", "turn 2"):
        assert part in html


def test_phase_lift_compares_each_phase_with_the_episode(model, tok):
    with scripted(model, script(tok)):
        run = run_agent(model, tok, "shout hi", [shout], max_new_tokens=60)
    df = phase_lift(run.trace)
    assert set(df.phase) == {"thinking", "tool_call", "tool_response", "answer"}
    shares = df.groupby(["layer", "phase"]).share.sum()
    assert ((shares - 1).abs() < 1e-9).all()  # each phase's shares sum to 1 per layer
    fig = phase_lift_figure(run.trace)
    assert [t.name for t in fig.data] == ["thinking", "tool_call", "tool_response", "answer"]


def test_the_widget_runs_streams_and_closes(model, tok):
    with scripted(model, script(tok)):
        view = AgentView(model, tok, "shout hi", [shout], max_new_tokens=60)
        assert view.lift is None  # no empty figure before there is one
        view.run(wait=True)
    assert view.error == "" and view.result.answer == XSS
    assert view.lift is not None and len(view.lift.figure.data) == 4 and XSS not in view.episode.value
    view.close()
    assert view.worker.closed
