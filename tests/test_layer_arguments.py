"""The one rule for a decoder-layer argument (``qnext_lab.checks``), on every public call that takes layers.

numpy and torch integers are accepted like ints; bools, floats (even ``1.0``) and strings raise TypeError,
never truncated or read as 1; a layer that was not captured raises ValueError naming the captured ones.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qnext_lab import analysis, figures
from qnext_lab.figures.analysis import vocabulary_figure

CALLS = {
    "RoutingTrace.layer": lambda layer: TRACE.layer(layer),
    "RoutingTrace.layers": lambda layer: TRACE.layers([layer]),
    "coactivation": lambda layer: analysis.coactivation(TRACE, layer),
    "most_used_experts": lambda layer: analysis.most_used_experts(TRACE, layer),
    "consecutive_repetition": lambda layer: analysis.consecutive_repetition(TRACE, layers=[layer]),
    "expert_load": lambda layer: analysis.expert_load(TRACE, layers=layer),
    "load_balance": lambda layer: analysis.load_balance(TRACE, layers=[layer]),
    "expert_heatmap": lambda layer: figures.expert_heatmap(TRACE, layer=layer),
    "expert_load_bars": lambda layer: figures.expert_load_bars(TRACE, layer=layer),
    "routing_text_html": lambda layer: figures.routing_text_html(TRACE, layer=layer),
    "vocabulary_figure": lambda layer: vocabulary_figure(analysis.vocabulary_specialization(TRACE), layer=layer),
}


TRACE = None  # the known trace of layers [0, 2, 5], built per test by the fixture below


@pytest.fixture(autouse=True)
def _trace(known_trace_builder):
    global TRACE
    TRACE = known_trace_builder(num_layers=3, layer_indices=[0, 2, 5])


@pytest.mark.parametrize("name", sorted(CALLS))
@pytest.mark.parametrize("layer", [5, np.int64(5), torch.tensor(5)], ids=["int", "numpy", "torch"])
def test_integers_of_every_kind_name_a_layer(name, layer):
    CALLS[name](layer)


@pytest.mark.parametrize("name", sorted(CALLS))
@pytest.mark.parametrize("layer", [True, 2.0, 2.7, "2", np.float64(2.0)], ids=["bool", "2.0", "2.7", "str", "np.float"])
def test_bools_floats_and_strings_are_refused_never_truncated(name, layer):
    with pytest.raises(TypeError, match="integer"):
        CALLS[name](layer)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_layer_that_was_not_captured_names_the_captured_ones(name):
    with pytest.raises(ValueError, match=r"\[0, 2, 5\]"):
        CALLS[name](1)


def test_capture_and_corpus_layers_follow_the_same_rule():
    from qnext_lab.trace.moe_layers import MoELayer, select_layers  # what capture(layers=) and intervene use

    found = [MoELayer(i, f"model.layers.{i}.mlp.experts", None, None, 8) for i in (0, 1)]
    assert [m.index for m in select_layers(found, np.int32(1))] == [1]
    assert [m.index for m in select_layers(found, torch.tensor([0, 1]))] == [0, 1]
    for bad in (True, 1.0, [0, 1.0], "1"):
        with pytest.raises(TypeError, match="integer|indices"):
            select_layers(found, bad)
