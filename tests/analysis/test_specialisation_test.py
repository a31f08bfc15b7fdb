"""The permutation test for "named experts": a planted specialist is found, random routing names no one."""

from __future__ import annotations

import pytest
import torch

from qnext_lab.analysis import expert_specialisation, named_experts, routing_overlap
from qnext_lab.figures import overlap_figure, specialisation_figure
from qnext_lab.trace import RoutingTrace

E, K = 16, 2


def random_trace(seqs: int = 40, length: int = 20, layers: int = 2, seed: int = 0, plant=None) -> RoutingTrace:
    """Uniform random top-2 routing; ``plant(layer, seq, gen) -> expert or None`` forces a first choice."""
    g = torch.Generator().manual_seed(seed)
    N = seqs * length
    ids = torch.stack([torch.rand(layers, E, generator=g).argsort()[:, :K] for _ in range(N)], dim=1)  # (L, N, K)
    if plant is not None:
        for layer in range(layers):
            for n in range(N):
                expert = plant(layer, n // length, g)
                if expert is not None and expert not in ids[layer, n].tolist():
                    ids[layer, n, 0] = expert
    return RoutingTrace(
        topk_ids=ids,
        topk_weights=torch.full((layers, N, K), 0.5),
        token_ids=torch.zeros(N, dtype=torch.long),
        seq_index=torch.arange(seqs).repeat_interleave(length),
        position=torch.arange(length).repeat(seqs),
        layer_indices=list(range(layers)),
        num_experts=E,
        top_k=K,
    )


LABELS = ["add" if s % 2 == 0 else "count" for s in range(40)]


def test_a_planted_specialist_is_found_and_named():
    # layer 0: "add" sequences send 60% of their tokens to expert 3 (uniform share: k/E = 12.5%); layer 1 random
    def plant(layer, seq, g):
        return 3 if layer == 0 and seq % 2 == 0 and torch.rand(1, generator=g).item() < 0.6 else None

    spec = expert_specialisation(random_trace(plant=plant), LABELS, permutations=200, seed=0)
    hit = spec[(spec.layer == 0) & (spec.label == "add") & (spec.expert == 3)].iloc[0]
    assert hit.verdict == "prefers" and hit.share > hit.high and hit.p_adjusted < 0.05
    assert hit.unit == "sequence" and hit.tokens == 20 * 20
    assert (spec[spec.layer == 1].verdict == "inside baseline").all()
    assert named_experts(spec)[0].startswith("layer 0 expert 3: add (")
    assert "with shuffled labels" in named_experts(spec)[0]
    assert all(name.startswith("layer 0") for name in named_experts(spec))


def test_random_routing_names_no_expert():
    spec = expert_specialisation(random_trace(seed=1), LABELS, permutations=200, seed=0)
    assert named_experts(spec) == []
    assert (spec.low <= spec.share).all() and (spec.share <= spec.high).all()
    # the band is wider than the spread of one label's shares: uniform k/E sits inside it
    assert ((spec.low <= spec.baseline) & (spec.baseline <= spec.high)).mean() > 0.95


def test_the_band_is_family_wise_not_per_cell():
    # with 2 labels x 16 experts per layer, a per-cell 95% band would flag ~1.6 cells per random layer;
    # the family-wise band flags a random layer about 5% of the time
    flagged = 0
    for seed in range(30):
        spec = expert_specialisation(random_trace(seqs=20, length=10, layers=1, seed=100 + seed), LABELS[:20], seed=0)
        flagged += bool((spec.verdict != "inside baseline").any())
    assert flagged <= 5


def test_the_baseline_is_seeded():
    trace = random_trace(seed=2)
    a, b = (expert_specialisation(trace, LABELS, seed=7) for _ in range(2))
    assert a.equals(b)
    c = expert_specialisation(trace, LABELS, seed=8)
    assert not a["high"].equals(c["high"]) and a["share"].equals(c["share"])


def test_bad_options_are_refused():
    trace = random_trace(seqs=8, length=4)
    with pytest.raises(ValueError, match="permutations"):
        expert_specialisation(trace, LABELS[:8], permutations=5)
    with pytest.raises(ValueError, match="level"):
        expert_specialisation(trace, LABELS[:8], level=1.5)
    with pytest.raises(TypeError, match="permutations"):
        expert_specialisation(trace, LABELS[:8], permutations=100.0)
    with pytest.raises(ValueError, match="two distinct labels"):
        expert_specialisation(trace, ["add"] * 8)
    with pytest.raises(TypeError, match="expert_specialisation"):
        named_experts("nothing")


def test_overlap_finds_families_that_route_alike_and_not_random_ones():
    # "add" sequences draw their first choice from experts 0-3, "count" ones from 8-11, in layer 1 only
    def plant(layer, seq, g):
        if layer != 1:
            return None
        base = 0 if seq % 2 == 0 else 8
        return base + int(torch.randint(4, (1,), generator=g))

    table = routing_overlap(random_trace(plant=plant), LABELS, permutations=200, seed=0)
    by_layer = table.set_index("layer")
    assert by_layer.loc[1, "verdict"] == "same label more alike" and by_layer.loc[1, "p_value"] < 0.05
    assert by_layer.loc[0, "verdict"] == "inside baseline"
    assert by_layer.loc[0, "null_low"] <= by_layer.loc[0, "difference"] <= by_layer.loc[0, "null_high"]
    assert by_layer.loc[1, "same"] > by_layer.loc[1, "different"]
    assert by_layer.loc[0, "pairs_same"] == 2 * (20 * 19 // 2)
    with pytest.raises(ValueError, match="no two sequences share a label"):
        routing_overlap(random_trace(seqs=4, length=3), ["a", "b", "c", "d"])


def test_figures_say_when_everything_is_inside_the_baseline():
    trace = random_trace(seed=1)
    spec = expert_specialisation(trace, LABELS, seed=0)
    fig = specialisation_figure(spec, layer=0)
    assert "inside the permutation baseline" in fig.layout.title.text
    assert {t.name for t in fig.data} >= {"observed share", "permutation band"}
    with pytest.raises(ValueError, match="layer 9"):
        specialisation_figure(spec, layer=9)
    over = overlap_figure(routing_overlap(trace, LABELS, seed=0))
    assert "inside the baseline at every layer" in over.layout.title.text
