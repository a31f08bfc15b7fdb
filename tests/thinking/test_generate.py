"""generate()/generate_batch(): parsing both template styles, counts, finish reasons, timings, batches of
different lengths, capture labels, and the errors raised where bad input enters."""

from __future__ import annotations

import pytest
from scripted import Script
from toy import char_tokenizer, random_model

from qnext_lab.thinking.engine import run
from qnext_lab.thinking.generation import generate, generate_batch
from qnext_lab.thinking.request import GenerationOptions, make_request


def _scripted(model, tok, text, *, thinking=True, budget=None, max_new_tokens=40):
    """Run generate's machinery with the model forced to write ``text`` (then choose freely)."""
    options = GenerationOptions(thinking=thinking, budget=budget, max_new_tokens=max_new_tokens)
    req = make_request(model, tok, ["What is 40 + 2?"], options)
    ids = tok.encode(text, add_special_tokens=False)
    return run(model, tok, req, extra_processors=[Script(ids)])[0]


def test_hybrid_output_with_both_delimiters_is_parsed(model, hybrid_tok):
    g = _scripted(model, hybrid_tok, "<think>\nadd 0+2\n</think>\n\n42<|im_end|>")
    assert (g.thinking, g.answer) == ("add 0+2", "42")
    assert g.thinking_tokens == len("\nadd 0+2\n") and g.answer_tokens == len("\n\n42")
    assert g.finish_reason == "eos" and g.labels[0] == "thinking" and g.labels[-1] == "answer"
    assert g.text.endswith("42<|im_end|>")


def test_think_tags_that_are_plain_added_tokens_like_qwen3(model):
    tok = char_tokenizer("hybrid", think_special=False)  # Qwen3: skip_special_tokens keeps <think>
    g = _scripted(model, tok, "<think>\nadd 0+2\n</think>\n\n42<|im_end|>")
    assert (g.thinking, g.answer, g.finish_reason) == ("add 0+2", "42", "eos")


def test_thinking_template_output_holds_only_the_closing_tag(model, thinking_tok):
    g = _scripted(model, thinking_tok, "add 0+2\n</think>\n\n42<|im_end|>")
    assert (g.thinking, g.answer) == ("add 0+2", "42")
    assert g.thinking_tokens == len("add 0+2\n")


def test_non_thinking_mode_labels_everything_answer(model, hybrid_tok):
    g = _scripted(model, hybrid_tok, "42<|im_end|>", thinking=False)
    assert g.prompt.endswith("<think>\n\n</think>\n\n")
    assert (g.thinking, g.answer, g.thinking_tokens, g.answer_tokens) == ("", "42", 0, 2)
    assert set(g.labels) == {"answer"} and not g.thinking_mode


def test_budget_cuts_thinking_and_finish_reason_says_so(model, thinking_tok):
    g = _scripted(model, thinking_tok, "abcdefghij</think>\n\n42<|im_end|>", budget=4)
    assert g.thinking == "abcd" and g.thinking_tokens == 4 and g.budget_hit
    assert sum(g.forced) == len(thinking_tok.encode(model.generation_config.thinking_stop_text))
    # the script keeps forcing its own text after the stop text, up to its <|im_end|>: the turn ends by itself
    # after the budget closed the thinking
    assert g.finish_reason == "budget"


def test_budget_zero_closes_at_once_and_finishes_with_reason_budget(model, thinking_tok):
    g = _scripted(model, thinking_tok, "", budget=0, max_new_tokens=60)
    stop = thinking_tok.encode(model.generation_config.thinking_stop_text)
    assert g.token_ids[: len(stop)] == stop and g.thinking_tokens == 0 and g.thinking == ""
    assert g.finish_reason == "max_new_tokens"  # the random model never writes <|im_end|> by itself
    direct = generate(model, thinking_tok, "What is 40 + 2?", budget=0, max_new_tokens=60)
    assert direct.token_ids == g.token_ids


def test_max_new_tokens_and_timings(model, thinking_tok):
    g = generate(model, thinking_tok, "hi", max_new_tokens=12)
    assert g.total_tokens == 12 and g.finish_reason == "max_new_tokens"
    assert 0 < g.ttft_s <= g.seconds and g.tokens_per_s > 0


def test_batch_rows_of_different_lengths_match_single_generations(model, thinking_tok):
    prompts = ["hi", "What is 478 + 356?", "How many r in strawberry? Think it through, step by step."]
    batch = generate_batch(model, thinking_tok, prompts, budget=[0, 3, None], max_new_tokens=24)
    for prompt, b, g in zip(prompts, [0, 3, None], batch):
        single = generate(model, thinking_tok, prompt, budget=b, max_new_tokens=24)
        assert g.token_ids == single.token_ids and g.labels == single.labels
        assert b is None or g.thinking_tokens <= b


def test_capture_labels_every_token(model, thinking_tok):
    g = generate(model, thinking_tok, "What is 1 + 2?", budget=3, max_new_tokens=16, capture=True)
    trace = g.trace
    assert trace.num_tokens == len(g.prompt_ids) + len(g.token_ids) - 1  # the last token is never fed back
    ids = g.prompt_ids + g.token_ids
    assert trace.token_ids.tolist() == ids[: trace.num_tokens]
    expected = [0] * len(g.prompt_ids) + [1 if lab == "thinking" else 2 for lab in g.labels]
    assert trace.phase.tolist() == expected[: trace.num_tokens]
    assert trace.tokens[: len(g.prompt_ids)] == [thinking_tok.decode([t]) for t in g.prompt_ids]
    assert (
        len(trace.select(phase="thinking"))
        == 3 + len(thinking_tok.encode(model.generation_config.thinking_stop_text)) - 1
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"budget": -1}, ValueError, ">= 0"),
        ({"budget": 1.5}, TypeError, "non-negative int"),
        ({"budget": 4, "thinking": False}, ValueError, "need thinking=True"),
        ({"min_thinking": 4, "thinking": False}, ValueError, "need thinking=True"),
        ({"thinking": "yes"}, TypeError, "True or False"),
        ({"max_new_tokens": 0}, ValueError, "max_new_tokens must be >= 1"),
        ({"max_new_tokens": 10_000}, ValueError, "exceeds the model's context"),
        ({"temperature": 0.0, "do_sample": True}, ValueError, "temperature"),
        ({"top_p": 1.5}, ValueError, "top_p"),
        ({"budget": [1, 2]}, TypeError, "one budget"),
        ({"capture": 1}, TypeError, "capture"),
        ({"seed": True}, TypeError, "seed"),
        ({"seed": 1.5}, TypeError, "seed"),
        ({"timeout": -1}, ValueError, "timeout"),
        ({"top_k": 2.5}, TypeError, "top_k must be an integer"),
        ({"max_new_tokens": 2.0}, TypeError, "max_new_tokens must be an integer"),
        ({"tools": "multiply"}, TypeError, "list of functions"),
        ({"tools": [{"name": 3}]}, ValueError, "JSON schema"),
    ],
)
def test_bad_arguments_raise_where_they_enter(model, hybrid_tok, kwargs, error, match):
    with pytest.raises(error, match=match):
        generate(model, hybrid_tok, "hi", **kwargs)


def test_prompt_longer_than_the_context(model, hybrid_tok):
    with pytest.raises(ValueError, match="longer than the model's context"):
        generate(model, hybrid_tok, "x" * 600)


def test_no_think_in_messages_with_a_budget(model, hybrid_tok):
    with pytest.raises(ValueError, match="/no_think"):
        generate(model, hybrid_tok, "hi /no_think", budget=3)
    g = generate(model, hybrid_tok, "hi /no_think", max_new_tokens=4)
    assert not g.thinking_mode and g.prompt.endswith("</think>\n\n")


def test_tokenizer_without_think_tokens():
    tok = char_tokenizer("plain", think_tokens=False)
    model = random_model(tok)
    with pytest.raises(ValueError, match="no <think> / </think>"):
        generate(model, tok, "hi")
    g = generate(model, tok, "hi", thinking=False, max_new_tokens=5)
    assert g.thinking_tokens == 0 and g.answer_tokens == 5
