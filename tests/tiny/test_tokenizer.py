"""Tokenizer round trip and the chat template against Qwen3's documented format strings."""

from __future__ import annotations

import pytest

from qnext_lab.tiny.tokenizer import build_tokenizer, prompt_text


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer()


def test_round_trip_and_single_character_tokens(tok):
    text = "<|im_start|>user\nHow many r in strawberry?<|im_end|>\n<|im_start|>assistant\n<think>\ns\nr 1\n</think>\n\n3<|im_end|>"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == text
    for digit in "0123456789":
        assert len(tok(digit, add_special_tokens=False)["input_ids"]) == 1
    for special in ("<|im_start|>", "<|im_end|>", "<think>", "</think>"):
        assert len(tok(special, add_special_tokens=False)["input_ids"]) == 1
    # like Qwen3, skip_special_tokens drops the chat markers but keeps the think tags
    assert tok.decode(ids, skip_special_tokens=True).startswith("user\nHow many")
    assert "<think>" in tok.decode(ids, skip_special_tokens=True)
    assert tok.eos_token == "<|im_end|>" and tok.pad_token_id is not None


def test_unknown_characters_do_not_crash(tok):
    ids = tok("é", add_special_tokens=False)["input_ids"]
    assert ids == [tok.unk_token_id]


def render(tok, messages, **kw):
    return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **kw)


# Qwen3 model card ("Switching Between Thinking and Non-Thinking Mode"): the rendered strings
Q = "Give me a short introduction to large language models."
QWEN3_THINKING = f"<|im_start|>user\n{Q}<|im_end|>\n<|im_start|>assistant\n"
QWEN3_NON_THINKING = QWEN3_THINKING + "<think>\n\n</think>\n\n"


def test_hard_switch_matches_qwen3(tok):
    msgs = [{"role": "user", "content": Q}]
    assert render(tok, msgs) == QWEN3_THINKING
    assert render(tok, msgs, enable_thinking=True) == QWEN3_THINKING
    assert render(tok, msgs, enable_thinking=False) == QWEN3_NON_THINKING


def test_soft_switches_latest_wins(tok):
    off = [{"role": "user", "content": "Hi /no_think"}]
    assert render(tok, off).endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    on_again = off + [{"role": "assistant", "content": "<think>\n\n</think>\n\nHello"},
                      {"role": "user", "content": "What is 2 + 2? /think"}]
    assert render(tok, on_again).endswith("<|im_start|>assistant\n")
    both = [{"role": "user", "content": "/think no wait /no_think"}]
    assert render(tok, both).endswith("<think>\n\n</think>\n\n")
    system_off = [{"role": "system", "content": "/no_think"}, {"role": "user", "content": "Hi"}]
    assert render(tok, system_off).endswith("<think>\n\n</think>\n\n")
    # the hard switch wins over /think, as in Qwen3
    assert render(tok, [{"role": "user", "content": "Hi /think"}], enable_thinking=False).endswith("</think>\n\n")


def test_history_drops_earlier_reasoning(tok):
    msgs = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "<think>\nx\n</think>\n\nb"},
            {"role": "user", "content": "c"}]
    text = render(tok, msgs)
    assert "<|im_start|>assistant\nb<|im_end|>\n" in text and "x" not in text


def test_fast_prompt_text_equals_the_template(tok):
    for thinking in (True, False):
        msgs = [{"role": "user", "content": "What is 1 + 2?"}]
        assert prompt_text("What is 1 + 2?", thinking) == render(tok, msgs, enable_thinking=thinking)
    sys_msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Q"}]
    assert prompt_text("Q", True, system="Be brief.") == render(tok, sys_msgs)


def test_saved_tokenizer_loads_without_qnext_lab(tok, tmp_path):
    from transformers import AutoTokenizer

    tok.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    msgs = [{"role": "user", "content": Q}]
    assert render(loaded, msgs, enable_thinking=False) == QWEN3_NON_THINKING
    assert loaded("12+3")["input_ids"] == tok("12+3")["input_ids"]
