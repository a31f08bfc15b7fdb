"""The offload cost model against published decode speeds of MoE models with experts off the GPU.

Each row: a published run (source, machine, format, placement, measured tokens/s), the machine described to
``qnext_lab.Machine`` from its datasheet peaks x 0.8 (or a bandwidth the source measured, taken as is), and the
cost model's roofline prediction (``overhead_per_layer=0``). A second prediction adds a fixed per-MoE-layer
overhead calibrated on the same source's all-on-GPU run where one exists (its measured step time minus the
roofline's, divided by the layers): the part of a real engine's step that is neither bytes nor bandwidth.
Formats the cost model does not list are approximated by a GGML type of the same bits per weight (named).

    PYTHONPATH=. /work/venv/bin/python benchmarks/offload_vs_published.py
"""

from __future__ import annotations

import transformers

from qnext_lab import Machine, model_cost
from qnext_lab.analysis.offload_speed import GB, GiB

QWEN3_NEXT = transformers.Qwen3NextConfig()  # Qwen3-Coder-Next shares the qwen3next 80B-A3B shape
QWEN3_30B = transformers.Qwen3MoeConfig(
    hidden_size=2048,
    num_hidden_layers=48,
    num_experts=128,
    num_experts_per_tok=8,
    moe_intermediate_size=768,
    intermediate_size=6144,
    num_attention_heads=32,
    num_key_value_heads=4,
    head_dim=128,
    vocab_size=151936,
)  # Qwen3-30B-A3B's config.json

EPYC = Machine.from_datasheet(  # loftllc.dev: EPYC 9175F, 12ch DDR5-6400, RTX PRO 6000 Blackwell Max-Q 96 GB
    "EPYC 9175F 12ch DDR5-6400 + RTX PRO 6000 Max-Q",
    gpu_memory=96 * GiB,
    gpu_bandwidth=1792 * GB,
    ram=768 * GiB,
    ram_bandwidth=614.4 * GB,
    link_bandwidth=64 * GB,
    disk_bandwidth=12 * GB,
)
I9 = Machine.from_datasheet(  # llmfit PR #755: RTX 2080 8 GB (448 GB/s) + i9-10900X, quad-channel DDR4 measured
    "i9-10900X quad DDR4 + RTX 2080",
    gpu_memory=8 * GiB,
    gpu_bandwidth=448 * GB,
    ram=64 * GiB,
    link_bandwidth=16 * GB,
    measured=dict(ram_bandwidth=102 * GB, disk_bandwidth=3 * GB),  # RAM as the source measured it; disk as is
    gpu_reserve=0.5 * GiB,
)
RYZEN = Machine.from_datasheet(  # llama.cpp #19480: CPU only, dual-channel DDR5-5600: the fast tier IS the RAM
    "Ryzen AI 9 HX 370, DDR5-5600 x2, CPU only",
    gpu_memory=96 * GiB,
    gpu_bandwidth=89.6 * GB,
    ram=96 * GiB,
    ram_bandwidth=89.6 * GB,
    link_bandwidth=89.6 * GB,
    disk_bandwidth=7 * GB,
    gpu_reserve=0,
)

RUNS = [
    # (source, config, format (approximating), machine, offload kwargs, measured tok/s, calibration key)
    (
        "loftllc.dev Qwen3-Coder-Next, ik_llama.cpp, all on GPU",
        QWEN3_NEXT,
        "IQ4_NL",
        EPYC,
        dict(slots=512),
        85.36,
        "epyc",
    ),
    (
        "loftllc.dev Qwen3-Coder-Next, ik_llama.cpp, exps=CPU",
        QWEN3_NEXT,
        "IQ4_NL",
        EPYC,
        dict(slots=0, mode="cpu"),
        58.94,
        "epyc",
    ),
    (
        "llmfit #755 Qwen3-30B-A3B Q4_K_M (as Q4_K), --n-cpu-moe 36 of 48",
        QWEN3_30B,
        "Q4_K",
        I9,
        dict(slots=32, hit_rate=12 / 48, mode="cpu"),
        36.7,
        None,
    ),
    (
        "llama.cpp #19480 Qwen3-Coder-Next Q4_K_M (as Q4_K), CPU only",
        QWEN3_NEXT,
        "Q4_K",
        RYZEN,
        dict(slots=512),
        7.74,
        None,
    ),
]


def main() -> None:
    overhead = {}
    print("| published run | measured tok/s | roofline tok/s | bound | with calibrated overhead |")
    print("| --- | ---: | ---: | --- | ---: |")
    for source, config, fmt, machine, kw, measured, key in RUNS:
        c = model_cost(config, context=4096, offload=dict(format=fmt, machine=machine, **kw)).offload
        if key is not None and key not in overhead:  # the all-on-GPU run calibrates the per-layer overhead
            overhead[key] = c.overhead_to_match(measured)
        calibrated = ""
        if key is not None:
            o = model_cost(
                config,
                context=4096,
                offload=dict(format=fmt, machine=machine, overhead_per_layer=overhead[key], **kw),
            ).offload
            calibrated = f"{o.tokens_per_s:.1f} ({overhead[key] * 1e6:.0f} µs/layer)"
        print(f"| {source} | {measured} | {c.tokens_per_s:.1f} | {c.bound} | {calibrated} |")
    # the question of the issue: Qwen3-Next-80B-A3B at Q4_0 on a 24 GB GPU + 64 GB RAM
    print()
    print("| Qwen3-Next-80B-A3B Q4_0, RTX 4090 + 64 GB DDR5, context 4096 | slots | hit rate | tok/s | bound |")
    print("| --- | ---: | ---: | ---: | --- |")
    for label, kw in [
        ("fetch, uniform routing", {}),
        ("fetch, hit rate 0.62 (LRU, Qwen3.8-Flash-Next per the issue)", dict(hit_rate=0.62)),
        ("fetch, hit rate 0.9", dict(hit_rate=0.9)),
        ("experts on the CPU (--n-cpu-moe), none on GPU", dict(slots=0, mode="cpu")),
        ("experts on the CPU, the ones that fit on GPU, uniform", dict(mode="cpu")),
    ]:
        c = model_cost(QWEN3_NEXT, context=4096, offload=dict(format="Q4_0", machine="RTX 4090 + 64 GB DDR5", **kw))
        o = c.offload
        print(f"| {label} | {o.slots} | {o.hit_rate:.2f} | {o.tokens_per_s:.1f} | {o.bound} |")


if __name__ == "__main__":
    main()
