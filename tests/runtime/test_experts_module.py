"""One test decides what an experts module is; the runtime, load() and capture all use it and agree."""

import pytest
import torch
import transformers
from families import family_configs

from qnext_lab.runtime.experts import UnsupportedExpertsError, qnext_experts_forward
from qnext_lab.runtime.experts_module import EXPERTS_ATTRIBUTES, experts_modules, is_experts_module
from qnext_lab.trace.moe_layers import find_moe_layers


@pytest.mark.parametrize("family", sorted(family_configs()))
def test_every_family_has_its_experts_found_the_same_way_everywhere(family):
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(family_configs()[family])
    paths = experts_modules(model)
    assert paths and all(p.endswith("experts") for p in paths)
    assert [layer.path for layer in find_moe_layers(model)] == paths  # capture finds exactly these
    assert all(is_experts_module(model.get_submodule(path)) for path in paths)


def test_a_module_missing_one_flag_is_not_an_experts_module_anywhere():
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(family_configs()["qwen3_moe"])
    experts = model.model.layers[0].mlp.experts
    del experts.is_concatenated  # an instance attribute the decorator sets
    assert "is_concatenated" in EXPERTS_ATTRIBUTES and not is_experts_module(experts)
    assert "model.layers.0.mlp.experts" not in experts_modules(model)
    assert all(layer.path != "model.layers.0.mlp.experts" for layer in find_moe_layers(model))
    with pytest.raises(UnsupportedExpertsError, match=r"missing \['is_concatenated'\]"):
        qnext_experts_forward(experts, torch.zeros(1, 48), torch.zeros(1, 2, dtype=torch.long), torch.ones(1, 2))
    assert not is_experts_module(torch.nn.Linear(2, 2)) and not is_experts_module("experts")
