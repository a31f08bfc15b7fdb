"""The article check: the four numbers recomputed from the configs, and the assumptions that move them."""

from __future__ import annotations

import pytest
import transformers

from qnext_lab.analysis import (
    article_check,
    decode_throughput,
    decode_throughput_table,
    equal_memory_throughput,
    max_batch,
    model_cost,
    qwen3_32b_config,
    training_compute_ratio,
)
from qnext_lab.figures import throughput_ratio_figure


@pytest.fixture(scope="module")
def configs():
    return transformers.Qwen3NextConfig(), qwen3_32b_config()


def test_qwen3_32b_has_its_published_size(configs):
    # Qwen3-32B's model card: 32.8B parameters, 31.2B non-embedding
    cost = model_cost(configs[1])
    assert cost.params_total == pytest.approx(32.8e9, rel=0.01)
    assert cost.params_active == cost.params_total  # dense: every parameter active


def test_article_numbers_are_computed_not_copied(configs):
    table = article_check(*configs)
    by_claim = table.groupby("claim")["computed"]
    assert by_claim.get_group("80B total").iloc[0] == pytest.approx(79.67, abs=0.01)
    active = by_claim.get_group("3B active").tolist()
    assert active[0] == pytest.approx(3.87, abs=0.01) and active[0] > active[1] > active[2]  # less counted, less
    costs = by_claim.get_group("<10% training cost").tolist()
    # same D: the ratio of active parameters; the article's D (15T vs 36T) scales it by 15/36
    assert costs[2] == pytest.approx(3.8749 / 32.762, rel=1e-3)
    assert costs[0] == pytest.approx(costs[2] * 15 / 36, rel=1e-9)
    assert table.loc[table.claim == "<10% training cost", "holds"].tolist() == [True, True, False, False]


def test_training_ratio_follows_tokens(configs):
    a = training_compute_ratio(*configs, tokens=1e12, reference_tokens=1e12)
    b = training_compute_ratio(*configs, tokens=2e12, reference_tokens=1e12)
    assert b == pytest.approx(2 * a)
    with pytest.raises(TypeError):
        training_compute_ratio(*configs, tokens="15T", reference_tokens=1e12)


def test_batching_shares_weight_reads_and_moe_reaches_more_experts(configs):
    table = decode_throughput_table(*configs, contexts=[4096], batches=[1, 64])
    one, many = table.ratio.tolist()
    assert one > 8  # batch 1: weights dominate, 3.9B vs 32.8B read per token
    assert many < one / 4  # batch 64 reaches most of the 512 experts of each layer
    assert set(table.bound) == {"memory"}


def test_shared_kv_cache_is_read_once_per_step(configs):
    cost = model_cost(configs[1], context=32768, batch=8)
    own, shared = decode_throughput(cost), decode_throughput(cost, kv_shared=True)
    assert shared["bytes_per_step"] == pytest.approx(own["bytes_per_step"] - 7 * cost.decode_bytes_kv)
    with pytest.raises(TypeError):
        decode_throughput(cost, kv_shared=1)
    with pytest.raises(TypeError):
        decode_throughput("cost")


def test_equal_memory_fits_more_hybrid_sequences(configs):
    row = equal_memory_throughput(*configs, contexts=[32768], memory_GB=640).iloc[0]
    assert row.batch > 5 * row.batch_reference  # a quarter of the layers keep a KV cache, 2 of 8 KV heads
    assert max_batch(configs[0], context=32768, memory_GB=100) == 0  # 159 GB of weights do not fit 100 GB
    assert equal_memory_throughput(*configs, contexts=[32768], memory_GB=100).ratio.isna().all()


def test_figure_marks_the_batch_and_says_where_the_claim_holds(configs):
    table = decode_throughput_table(*configs, contexts=[4096, 262144], batches=[1, 16])
    fig = throughput_ratio_figure(table, batch=1)
    assert "holds at no context" in fig.layout.title.text
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    assert len(lines) == 2 and all(len(t.x) == 2 for t in lines)
    low = throughput_ratio_figure(table, batch=1, claim=9.5)
    assert "holds at 256K" in low.layout.title.text and "not at 4K" in low.layout.title.text
    with pytest.raises(ValueError, match="batch 3 is not in the table"):
        throughput_ratio_figure(table, batch=3)
    assert throughput_ratio_figure(table, dark=True).layout.template.layout.font.color == "#e6e6e6"


def test_cost_function_reads_the_config_once_and_agrees_with_model_cost(configs):
    from qnext_lab.analysis.cost import cost_function

    cost = cost_function(configs[0])
    assert cost(32768, 8) == model_cost(configs[0], context=32768, batch=8)
    with pytest.raises(ValueError, match="batch"):
        cost(4096, 0)
