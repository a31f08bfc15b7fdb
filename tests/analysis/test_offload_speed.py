"""offload_cost: expert bytes per format from gguf's block sizes, tokens/s from tiers and hit rate, what bounds it,
the model_cost / cost_table hook, refusals; and the expert bytes the real offload() moves."""

from __future__ import annotations

import pytest
import torch
import transformers

import qnext_lab as ql
from qnext_lab.analysis import MACHINES, Machine, cost_table, expert_bytes, format_bytes, model_cost, offload_cost

QWEN3_NEXT = transformers.Qwen3NextConfig()  # the published 80B-A3B shape: 48 layers, 512 experts, top-10


def test_format_bytes_are_ggml_block_sizes():
    assert format_bytes("F16") == 2
    assert format_bytes("Q8_0") == 34 / 32 and format_bytes("Q4_0") == 18 / 32 and format_bytes("MXFP4") == 17 / 32
    assert format_bytes("q4_0") == 18 / 32
    with pytest.raises(ValueError, match="unknown format"):
        format_bytes("Q3_FAKE")
    with pytest.raises(TypeError, match="GGML type"):
        format_bytes(4)


def test_one_qwen3_next_expert():
    # gate + up + down: 3 * 2048 * 512 weights (Qwen3-Next's config), 6.3 MB in F16
    n = 3 * 2048 * 512
    assert expert_bytes(QWEN3_NEXT, "F16") == 2 * n == 6_291_456
    assert expert_bytes(QWEN3_NEXT, "Q4_0") == n * 18 // 32
    assert expert_bytes(QWEN3_NEXT, "MXFP4") == n * 17 // 32


def test_rows_that_are_not_whole_blocks_stay_f16():
    config = transformers.Qwen3MoeConfig(
        hidden_size=48, moe_intermediate_size=64, num_experts=4, num_experts_per_tok=2, num_hidden_layers=1
    )
    # gate/up rows have 48 weights (not a multiple of 32): F16; down rows have 64: Q4_0
    assert expert_bytes(config, "Q4_0") == 2 * 64 * 48 * 2 + 48 * 64 * 18 / 32


def _cost(**kw):
    return model_cost(QWEN3_NEXT, context=4096, offload=dict(format="Q4_0", machine="RTX 4090 + 64 GB DDR5", **kw))


def test_the_80b_model_on_a_24_gb_gpu():
    c = _cost(hit_rate=0.6).offload
    assert 0 < c.slots == c.max_slots < 512  # it does not fit whole
    assert c.gpu_bytes <= MACHINES["RTX 4090 + 64 GB DDR5"].gpu_memory
    assert c.hit_rate == 0.6 and c.hit_rate_source == "given"
    assert c.misses_per_token == pytest.approx(48 * 10 * 0.4)
    assert c.bound == "host link"
    # the roofline by hand: misses cross PCIe, the GPU reads the rest once per token
    m = MACHINES["RTX 4090 + 64 GB DDR5"]
    transfer = c.misses_per_token * c.expert_bytes / m.link_bandwidth
    assert c.time_transfer == pytest.approx(transfer)
    assert c.tokens_per_s == pytest.approx(1 / (c.time_gpu + transfer))
    assert c.disk_bytes == 0  # 64 GB of RAM holds the ~40 GB of Q4_0 experts that are off the GPU


def test_speed_rises_with_hit_rate_and_is_whole_on_a_big_gpu():
    speeds = [_cost(hit_rate=h).offload.tokens_per_s for h in (0.0, 0.3, 0.6, 0.9, 1.0)]
    assert speeds == sorted(speeds) and speeds[0] < speeds[-1]
    assert _cost(hit_rate=1.0).offload.bound == "GPU memory"
    big = model_cost(QWEN3_NEXT, context=4096, offload=dict(format="Q4_0", machine="H100 80 GB (all on GPU)"))
    assert big.offload.slots == 512 and big.offload.hit_rate == 1.0 and big.offload.time_transfer == 0
    uniform = _cost(slots=128).offload
    assert uniform.hit_rate == 128 / 512 and uniform.hit_rate_source.startswith("uniform")


def test_batching_shares_misses_and_cpu_mode_reads_ram():
    one = _cost(hit_rate=0.6).offload
    eight = model_cost(
        QWEN3_NEXT, context=4096, batch=8, offload=dict(format="Q4_0", machine="RTX 4090 + 64 GB DDR5", hit_rate=0.6)
    ).offload
    assert eight.misses_per_token < one.misses_per_token and eight.tokens_per_s > one.tokens_per_s
    cpu = _cost(slots=0, mode="cpu").offload
    assert cpu.bound == "CPU RAM reads" and cpu.hit_rate == 0


def test_too_little_memory_spills_to_nvme_or_is_refused():
    small = Machine("8 GB GPU, 16 GB RAM", 8 * 2**30, 300e9, 16 * 2**30, 50e9, 25e9, 5e9)
    c = model_cost(QWEN3_NEXT, offload=dict(format="Q4_0", machine=small, hit_rate=0.5)).offload
    assert c.disk_bytes > 0 and c.time_disk > 0
    tiny_gpu = Machine("2 GB GPU", 2 * 2**30, 300e9, 64 * 2**30, 50e9, 25e9, 5e9)
    with pytest.raises(ValueError, match="non-expert weights"):
        model_cost(QWEN3_NEXT, offload=dict(format="F16", machine=tiny_gpu))
    with pytest.raises(ValueError, match="slots"):
        _cost(slots=500)
    with pytest.raises(ValueError, match="hit_rate"):
        _cost(hit_rate=1.5)
    with pytest.raises(ValueError, match="machine"):
        model_cost(QWEN3_NEXT, offload=dict(machine="my laptop"))
    with pytest.raises(ValueError, match="mode"):
        _cost(mode="gpu")
    with pytest.raises(TypeError, match="offload"):
        model_cost(QWEN3_NEXT, offload="Q4_0")
    with pytest.raises(ValueError, match="no routed experts"):
        offload_cost(transformers.Qwen3Config(num_hidden_layers=2), model_cost(transformers.Qwen3Config()))


def test_cost_table_gains_offload_columns_for_the_configured_model():
    df = cost_table(QWEN3_NEXT, contexts=[4096], offload=dict(format="Q4_0", hit_rate=0.6))
    configured = df[df["variant"] == "as configured"].iloc[0]
    assert configured["offload_tokens_per_s"] == pytest.approx(_cost(hit_rate=0.6).offload.tokens_per_s)
    assert df[df["variant"] != "as configured"]["offload_tokens_per_s"].isna().all()
    assert "offload_tokens_per_s" not in cost_table(QWEN3_NEXT, contexts=[4096]).columns


def test_the_real_offload_moves_what_the_model_counts():
    model, tok = ql.load("tiny")
    ids = tok("What is 478 + 356?", return_tensors="pt")["input_ids"]
    with ql.offload(model, 4) as off, torch.no_grad():
        model(ids)
    assert set(off.expert_bytes.values()) == {expert_bytes(model.config, "F32")}


def test_a_calibrated_overhead_reproduces_the_measured_speed():
    machine = Machine.from_datasheet(
        "test box",
        gpu_memory=96 * 2**30,
        gpu_bandwidth=1000e9,
        ram=256 * 2**30,
        ram_bandwidth=100e9,
        link_bandwidth=32e9,
        measured=dict(disk_bandwidth=3e9),  # as is, not scaled
    )
    assert machine.gpu_bandwidth == 800e9 and machine.disk_bandwidth == 3e9
    with pytest.raises(ValueError, match="both"):
        Machine.from_datasheet("x", gpu_bandwidth=1.0, measured=dict(gpu_bandwidth=1.0))
    roofline = model_cost(QWEN3_NEXT, context=4096, offload=dict(format="Q4_0", machine=machine)).offload
    assert roofline.moe_layers == 48
    overhead = roofline.overhead_to_match(20.0)
    assert overhead > 0
    calibrated = model_cost(
        QWEN3_NEXT, context=4096, offload=dict(format="Q4_0", machine=machine, overhead_per_layer=overhead)
    ).offload
    assert calibrated.tokens_per_s == pytest.approx(20.0)
    assert calibrated.overhead_to_match(20.0) == pytest.approx(overhead)
