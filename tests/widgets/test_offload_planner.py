"""OffloadPlanner and figures.offload: controls move the numbers the pure functions compute; misses marked where
cache_misses says; the prediction is model_cost's; escaped text; bad state refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import traitlets

import qnext_lab as ql
from qnext_lab.analysis import cache_misses, expert_cache
from qnext_lab.figures import hit_rate_figure, miss_heatmap, speed_html
from qnext_lab.trace.routing_trace import RoutingTrace


def make_trace(tokens=40, experts=16, k=2, layers=(0, 2)) -> RoutingTrace:
    rng = np.random.default_rng(0)
    ids = np.stack([[rng.choice(experts, k, replace=False) for _ in range(tokens)] for _ in layers])
    return RoutingTrace(
        topk_ids=torch.tensor(ids, dtype=torch.int32),
        topk_weights=torch.full(ids.shape, 1.0 / k),
        token_ids=torch.arange(tokens),
        seq_index=torch.zeros(tokens, dtype=torch.int32),
        position=torch.arange(tokens, dtype=torch.int32),
        layer_indices=list(layers),
        num_experts=experts,
        top_k=k,
        tokens=["<b>"] + ["x"] * (tokens - 1),
    )


def test_figures():
    trace = make_trace()
    results = {p: expert_cache(trace, 4, p) for p in ("lru", "belady")}
    fig = hit_rate_figure(results, current="lru")
    assert [t.name for t in fig.data] == ["lru", "belady"]
    assert list(fig.data[0].y) == results["lru"]["hit_rate"].tolist()
    assert fig.data[0].opacity == 1.0 and fig.data[1].opacity < 1
    mask = cache_misses(trace, 4)
    heat = miss_heatmap(trace, mask, 2)
    marks = heat.data[-1]
    assert len(marks.x) == int(mask[1].sum())
    n, r = np.nonzero(mask[1].numpy())
    assert list(marks.y) == trace.topk_ids[1][n, r].tolist()
    with pytest.raises(ValueError, match="cache_misses"):
        miss_heatmap(trace, mask[:1], 2)
    with pytest.raises(ValueError, match="empty"):
        hit_rate_figure({})


def test_planner_follows_its_controls():
    trace = make_trace()
    view = ql.OffloadPlanner(trace, share=25, format="Q8_0", policy="lfu")
    assert (view.share, view.format, view.policy) == (25, "Q8_0", "lfu")
    assert (view.share_slider.value, view.format_dropdown.value) == (25, "Q8_0")
    assert "Q8_0" in view.speed.value and "4 of its 16 experts" in view.speed.value
    view.policy = "lru"
    assert list(view.hit_rates.figure.data[0].y) == expert_cache(trace, 4, "lru")["hit_rate"].tolist()
    before = view.speed.value
    view.share_slider.value = 75  # the control moves the state and the numbers
    assert view.share == 75
    assert list(view.hit_rates.figure.data[0].y) == expert_cache(trace, 12, "lru")["hit_rate"].tolist()
    assert view.speed.value != before and "tokens/s" in view.speed.value
    view.policy = "belady"
    assert view.policy_toggle.value == "belady"
    expected = int(cache_misses(trace, 12, "belady")[0].sum())
    assert len(view.heatmap.figure.data[-1].x) == expected
    cost = view.prediction()
    hit = expert_cache(trace, 12, "belady")
    assert cost.hit_rate == pytest.approx(hit["hits"].sum() / hit["requests"].sum())
    assert cost.slots == min(cost.max_slots, round(0.75 * 512))
    view.machine = "RTX 3090 + 32 GB DDR4"
    view.format = "F16"  # the 80B model's dense part alone still fits, but no expert slot does... or it is refused
    assert "tokens/s" in view.speed.value or "Does not fit" in view.speed.value
    with pytest.raises(traitlets.TraitError):
        view.share = 120
    with pytest.raises(traitlets.TraitError):
        view.policy = "fifo"
    assert "&lt;b&gt;" in str(view.heatmap.figure.data[0].text[0]) or "<b>" not in str(
        view.heatmap.figure.data[0].text[0]
    )
    view.close()


def test_speed_html_escapes():
    trace = make_trace()
    view = ql.OffloadPlanner(trace)
    html = speed_html(view.prediction(), hit_rate_note="<script>")
    assert "<script>" not in html and "&lt;script&gt;" in html
    with pytest.raises(TypeError):
        ql.OffloadPlanner("not a trace")
    view.close()
