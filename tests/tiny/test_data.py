"""Training examples: loss only on the assistant turn, the empty think block and forced stop text masked."""

from __future__ import annotations

import random

import pytest

from qnext_lab.tiny.data import IGNORE, encode_example, make_batch, render_example
from qnext_lab.tiny.paths import STOP_TEXT
from qnext_lab.tiny.tasks import make_problems
from qnext_lab.tiny.tokenizer import build_tokenizer


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer()


def _in_loss(tok, ids, labels):
    return tok.decode([i for i, lab in zip(ids, labels) if lab != IGNORE])


def test_three_forms_mask_what_the_model_must_not_learn(tok):
    p = make_problems(1, seed=0, families=["add"])[0]
    rng = random.Random(5)
    seen = set()
    for _ in range(60):
        prompt, mode, pieces = render_example(p, rng.choice(["think", "nothink", "cut"]), rng)
        ids, labels = encode_example(tok, prompt, pieces)
        trained = _in_loss(tok, ids, labels)
        assert "user" not in trained and trained.endswith(p.answer + "<|im_end|>")
        if mode == "nothink":
            assert prompt.endswith("<think>\n\n</think>\n\n") and trained == p.answer + "<|im_end|>"
        elif mode == "think":
            assert trained == f"<think>\n{p.thinking}\n</think>\n\n{p.answer}<|im_end|>"
        else:
            assert STOP_TEXT.strip() not in trained and "Time is up" in tok.decode(ids)
        seen.add(mode)
    assert seen == {"think", "nothink", "cut"}


def test_batch_is_right_padded_and_seeded(tok):
    x1, y1 = make_batch(tok, random.Random(0), 8, level=0.5)
    x2, y2 = make_batch(tok, random.Random(0), 8, level=0.5)
    assert x1.equal(x2) and y1.equal(y2) and x1.shape == y1.shape
    assert (y1[x1 == tok.pad_token_id] == IGNORE).all()
    with pytest.raises(ValueError):
        make_batch(tok, random.Random(0), 0)


def _render(tok, messages, thinking, tools=None, generation_prompt=True):
    return tok.apply_chat_template(
        messages, tools=tools, tokenize=False, add_generation_prompt=generation_prompt, enable_thinking=thinking
    )


def test_tool_examples_are_what_the_template_renders_for_the_same_chat(tok):
    from qnext_lab.tiny.data import render_tool_example
    from qnext_lab.tiny.tasks import TOOLS

    p = make_problems(1, seed=3, families=["mul"])[0]
    call = {"type": "function", "function": p.tool_call}
    rng, seen = random.Random(0), set()
    for i in range(40):
        mode = ("think", "nothink")[i % 2]
        prompt, _, pieces = render_tool_example(p, "tool", mode, rng)
        tools = [
            TOOLS[name]
            for name in prompt.split("<tools>\n")[1].split("\n</tools>")[0].replace("(", "\n").split("\n")
            if name in TOOLS
        ]
        assert TOOLS["multiply"] in tools
        ids, labels = encode_example(tok, prompt, pieces)
        full, trained = tok.decode(ids), _in_loss(tok, ids, labels)
        user = {"role": "user", "content": p.question}
        if mode == "think":
            turn1 = {"role": "assistant", "content": "<think>\nCall multiply.\n</think>\n\n", "tool_calls": [call]}
            chat = [user, turn1, {"role": "tool", "content": p.answer}]
            assert (
                full == _render(tok, chat, True, tools) + f"<think>\nRead the result.\n</think>\n\n{p.answer}<|im_end|>"
            )
            assert (
                trained.startswith("<think>\nCall multiply.\n</think>\n\n<tool_call>\n")
                and "tool_response" not in trained
            )
            seen.add("think")
        elif "tool_response" in full:  # the answer after the response; the call (re-rendered) is not trained
            chat = [
                user,
                {"role": "assistant", "content": "", "tool_calls": [call]},
                {"role": "tool", "content": p.answer},
            ]
            assert full == _render(tok, chat, False, tools) + p.answer + "<|im_end|>"
            assert trained == p.answer + "<|im_end|>"
            seen.add("answer")
        else:  # the call itself, after the empty think block of enable_thinking=False
            assert prompt == _render(tok, [user], False, tools)
            assert (
                trained
                == '<tool_call>\n{"name": "multiply", "arguments": '
                + f'{{"a": {p.arguments[0][1]}, "b": {p.arguments[1][1]}}}}}\n</tool_call><|im_end|>'
            )
            seen.add("call")
    assert seen == {"think", "answer", "call"}
    # without tools offered: the model says it has none and answers directly (the true product is the target)
    prompt, _, pieces = render_tool_example(p, "no_tool", "think", rng)
    assert prompt == _render(tok, [{"role": "user", "content": p.question}], True)
    assert (
        _in_loss(tok, *encode_example(tok, prompt, pieces))
        == f"<think>\n{p.thinking}\n</think>\n\n{p.answer}<|im_end|>"
    )
    with pytest.raises(ValueError):
        render_tool_example(make_problems(1, seed=0)[0], "tool", "think", rng)


def test_two_turn_history_drops_the_first_thinking_like_the_template(tok):
    from qnext_lab.tiny.data import render_two_turn

    first, second = make_problems(2, seed=5)
    for mode in ("think", "nothink"):
        prompt, _, _ = render_two_turn(first, second, mode, random.Random(0))
        chat = [
            {"role": "user", "content": first.question},
            {"role": "assistant", "content": f"<think>\n{first.thinking}\n</think>\n\n{first.answer}"},
            {"role": "user", "content": second.question},
        ]
        assert prompt == _render(tok, chat, mode == "think")


def test_length_sorted_batches_pad_less_with_the_same_mix(tok):
    from qnext_lab.tiny.data import make_batches

    batches = make_batches(tok, random.Random(1), 16, group=4)
    assert len(batches) == 4 and all(x.shape == y.shape and x.shape[0] == 16 for x, y in batches)
    real = sum(int((x != tok.pad_token_id).sum()) for x, _ in batches)
    plain = [make_batch(tok, random.Random(1), 16) for _ in range(4)]
    assert real / sum(x.numel() for x, _ in batches) > sum(int((x != tok.pad_token_id).sum()) for x, _ in plain) / sum(
        x.numel() for x, _ in plain
    )
