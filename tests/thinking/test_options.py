"""One definition of the generation options: every public generation call takes the same keywords as
``GenerationOptions`` (names, types, defaults) or a ``GenerationOptions``, and both spellings agree."""

from __future__ import annotations

import inspect
from dataclasses import MISSING, fields

import pytest
import torch

import qnext_lab as ql
from qnext_lab.thinking import GenerationOptions

CALLS = ["generate", "generate_batch", "stream_generate", "run_agent", "stream_agent"]
AGENT_DEFAULTS = {"capture": True}  # an episode trace by default: what AgentView draws


def test_every_generation_call_takes_every_option_with_the_same_type_and_default():
    option_fields = {f.name: f for f in fields(GenerationOptions)}
    for name in CALLS:
        params = inspect.signature(getattr(ql, name)).parameters
        assert params["options"].default is None and params["options"].kind is inspect.Parameter.KEYWORD_ONLY
        for field_name, f in option_fields.items():
            assert field_name in params, f"{name} lacks the option {field_name}"
            p = params[field_name]
            assert p.kind is inspect.Parameter.KEYWORD_ONLY, (name, field_name)
            assert p.annotation == f.type, (name, field_name, p.annotation, f.type)
            default = AGENT_DEFAULTS.get(field_name, f.default) if "agent" in name else f.default
            assert default is not MISSING and p.default == default, (name, field_name, p.default)
    for name in CALLS:  # one type for tools everywhere (required by the agent calls)
        assert inspect.signature(getattr(ql, name)).parameters["tools"].annotation.startswith("Sequence[Tool]")


def test_unknown_keywords_and_wrong_options_are_refused(model, hybrid_tok):
    with pytest.raises(TypeError, match="unexpected keyword|got an unexpected"):
        ql.generate(model, hybrid_tok, "1+1", temprature=0.5)
    with pytest.raises(TypeError, match="options must be a GenerationOptions"):
        ql.generate(model, hybrid_tok, "1+1", options={"budget": 3})


def test_options_object_and_keywords_give_the_same_generation(model, hybrid_tok):
    opts = GenerationOptions(budget=3, max_new_tokens=12, do_sample=True, seed=7, top_k=5)
    by_object = ql.generate(model, hybrid_tok, "2+2", options=opts)
    by_keywords = ql.generate(model, hybrid_tok, "2+2", budget=3, max_new_tokens=12, do_sample=True, seed=7, top_k=5)
    assert by_object.token_ids == by_keywords.token_ids and by_object.options == by_keywords.options == opts
    overridden = ql.generate(model, hybrid_tok, "2+2", options=opts, budget=0)  # keywords win over the object
    assert overridden.options.budget == 0 and overridden.thinking_tokens == 0


def test_batch_without_thinking_takes_one_none_budget_per_prompt(model, hybrid_tok):
    gens = ql.generate_batch(model, hybrid_tok, ["1+1", "2+2"], thinking=False, budget=[None, None], max_new_tokens=4)
    assert [g.thinking_tokens for g in gens] == [0, 0]
    with pytest.raises(ValueError, match="need thinking=True"):
        ql.generate_batch(model, hybrid_tok, ["1+1", "2+2"], thinking=False, budget=[None, 2])


@pytest.mark.parametrize(
    "bad, error",
    [
        ({"max_new_tokens": 2.0}, TypeError),
        ({"max_new_tokens": True}, TypeError),
        ({"max_new_tokens": 0}, ValueError),
        ({"top_k": 1.5}, TypeError),
        ({"seed": "1"}, TypeError),
        ({"temperature": 0}, ValueError),
        ({"top_p": 1.5}, ValueError),
        ({"timeout": -1}, ValueError),
    ],
)
def test_option_values_follow_the_one_number_rule(bad, error):
    with pytest.raises(error):
        GenerationOptions(**bad)
    assert GenerationOptions(max_new_tokens=torch.tensor(3), top_k=torch.tensor(2)).max_new_tokens == 3
