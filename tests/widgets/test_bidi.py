"""Display spoofing: bidi controls (U+202E reverses what follows, U+2066 isolates), zero-width and control
characters from token text, tool results and labels are shown as visible ``⟨U+XXXX⟩`` escapes wherever
untrusted text is shown: HTML panes, plotly hover and tick text, the agent pane, ``.to_html`` exports
(ExpertSwitchboard and AgentView included) and the saved-notebook copies."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import ipywidgets as widgets
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "thinking"))
from qwen3 import qwen3_moe, qwen3_tokenizer, scripted

from qnext_lab.figures.escape import escape_text, reveal, text_html, token_label
from qnext_lab.widgets.agent_view import AgentView
from qnext_lab.widgets.expert_switchboard import ExpertSwitchboard
from qnext_lab.widgets.plot_pane import PlotPane
from qnext_lab.widgets.routing_heatmap import RoutingHeatmap

HIDDEN = [
    "\u202e",  # RIGHT-TO-LEFT OVERRIDE
    "\u202a",  # LEFT-TO-RIGHT EMBEDDING
    "\u2066",  # LEFT-TO-RIGHT ISOLATE
    "\u2069",  # POP DIRECTIONAL ISOLATE
    "\u200f",  # RIGHT-TO-LEFT MARK
    "\u061c",  # ARABIC LETTER MARK
    "\u200b",  # ZERO WIDTH SPACE
    "\u200d",  # ZERO WIDTH JOINER
    "\u2060",  # WORD JOINER
    "\ufeff",  # ZERO WIDTH NO-BREAK SPACE (BOM)
    "\u00ad",  # SOFT HYPHEN
    "\U000e0041",  # TAG LATIN CAPITAL LETTER A (invisible "ASCII smuggling")
    "\x1b",  # ESC
    "\u2028",  # LINE SEPARATOR
]
SPOOF = "invoice\u202efdp.exe\u2066x\u200by"


def raw_hidden(text: str) -> list[str]:
    return [c for c in HIDDEN if c in text]


@pytest.mark.parametrize("char", HIDDEN)
def test_every_hidden_character_is_revealed_by_each_escaper(char):
    code = f"⟨U+{ord(char):04X}⟩"
    for out in (escape_text(f"a{char}b"), token_label(f"a{char}b"), text_html(f"a{char}b"), reveal(f"a{char}b")):
        assert char not in out and code in out


def test_ordinary_text_is_unchanged():
    assert reveal("héllo wörld 日本語 👍\n\t") == "héllo wörld 日本語 👍\n\t"
    assert escape_text("<b>") == "&lt;b&gt;"


def rendered(widget: widgets.Widget) -> str:
    out, stack = [], [widget]
    while stack:
        w = stack.pop()
        if isinstance(w, PlotPane):
            out.append(json.dumps(w.outputs, ensure_ascii=False))  # the figure's plotly JSON and its HTML
        elif isinstance(w, (widgets.HTML, widgets.Label)):
            out.append(w.value)
        stack.extend(getattr(w, "children", ()))
    return "\n".join(out)


def test_routing_heatmap_hover_ticks_and_export(trace, tmp_path):
    trace.tokens = [SPOOF if i % 3 == 0 else f"t{i}" for i in range(len(trace))]
    view = RoutingHeatmap(trace, title=SPOOF, window_size=128)
    screen = rendered(view)
    assert not raw_hidden(screen) and "⟨U+202E⟩" in screen
    html = view.to_html(tmp_path / "routing.html").read_text(encoding="utf-8")
    assert not raw_hidden(html) and "⟨U+202E⟩" in html


def shout(text: str) -> str:
    """Return the text in capitals.

    Args:
        text: what to shout
    """
    return SPOOF + text.upper()


@pytest.fixture(scope="module")
def qwen3():
    tok = qwen3_tokenizer()
    return qwen3_moe(tok), tok


def test_agent_pane_and_export_reveal_tool_results_and_model_text(qwen3, tmp_path):
    model, tok = qwen3
    call = "<tool_call>\n" + json.dumps({"name": "shout", "arguments": {"text": "hi"}}) + "\n</tool_call>"
    texts = ["<think>\n" + SPOOF + "\n</think>\n\n" + call, "<think>\nok\n</think>\n\nfine"]
    script = [tok.encode(t + "<|im_end|>", add_special_tokens=False) for t in texts]
    view = AgentView(model, tok, "shout " + SPOOF, [shout], max_new_tokens=60)
    assert "⟨U+202E⟩" in view.to_html(tmp_path / "empty.html").read_text(encoding="utf-8")  # before any run
    with scripted(model, script):
        view.run(wait=True)
    assert view.error == "" and view.result.turns[0].results[0].content.startswith(SPOOF)
    assert not raw_hidden(view.episode.value) and "⟨U+202E⟩" in view.episode.value
    html = view.to_html(tmp_path / "agent.html").read_text(encoding="utf-8")
    assert not raw_hidden(html) and html.count("⟨U+202E⟩") >= 3  # prompt, thinking, tool result
    view.close()


def test_expert_switchboard_has_to_html_and_reveals_its_prompt(qwen3, tmp_path):
    model, tok = qwen3
    view = ExpertSwitchboard(model, tok, "1+2=" + SPOOF, max_new_tokens=4)
    html = view.to_html(tmp_path / "switchboard.html").read_text(encoding="utf-8")
    assert not raw_hidden(html) and "⟨U+202E⟩" in html
    bundle = view._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert not raw_hidden(data["text/html"]) and "⟨U+202E⟩" in data["text/html"]  # the saved-notebook copy
    view.close()
