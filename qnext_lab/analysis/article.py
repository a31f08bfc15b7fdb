"""Check the article: the Qwen3-Next announcement's four numbers against what the cost model computes.

The Qwen team's announcement ("Qwen3-Next: Towards Ultimate Training & Inference Efficiency", qwen.ai blog,
September 2025) says Qwen3-Next-80B-A3B has **80B** parameters, **3B** active per token, was trained for
**under 10%** of Qwen3-32B's training cost (GPU hours; the post gives 9.3%) and has **more than 10x** its
throughput past 32K tokens of context. This module recomputes each from the two configs with ``model_cost``
and ``active_parameters``, and names the assumptions that move each number:

- "3B": which parameters count (with or without the input embedding and the output head).
- training cost: 6 * N_active * D (Kaplan et al. 2020's training FLOPs), so it depends on what N counts and on
  the tokens D each model was trained on (Qwen3-Next: 15T, a subset of Qwen3's 36T-token corpus; the article's
  figure is GPU hours, which also carries attention FLOPs and utilisation).
- throughput: prefill is compute-bound (the FLOPs ratio); decode is timed on a roofline, time per step = max(bytes read / bandwidth, FLOPs / peak), so only
  the ratio peak / bandwidth of the GPU matters (``flops_per_byte``); it depends on the batch (a batch of
  sequences shares each weight read, and reaches more of the MoE's experts) and on whether the sequences share
  one prompt's KV cache (prefix caching: the shared cache is read once per step, not once per sequence). A
  server fills its memory: at equal memory the hybrid's smaller KV cache fits more sequences per weight read.

Knows nothing about figures or running a model.

    qwen3_32b_config()                                   # transformers.Qwen3Config from Qwen3-32B's config.json
    article_check(transformers.Qwen3NextConfig(), qwen3_32b_config())
    decode_throughput_table(next_cfg, dense_cfg, contexts=[32768], batches=[1, 8, 64])

Dimension legend: b = batch (sequences decoded together), c = context (tokens per sequence).
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from ..checks import as_float, as_int, as_int_list
from .active_params import active_parameters
from .cost import ModelCost, cost_function, model_cost

__all__ = [
    "ARTICLE",
    "H100_FLOPS_PER_BYTE",
    "QWEN3_32B",
    "article_check",
    "decode_throughput",
    "decode_throughput_table",
    "equal_memory_throughput",
    "max_batch",
    "qwen3_32b_config",
    "training_compute_ratio",
]

# The article's four numbers (qwen.ai blog, "Qwen3-Next: Towards Ultimate Training & Inference Efficiency").
ARTICLE = {
    "params_total": 80e9,  # "80B"
    "params_active": 3e9,  # "A3B": about 3B active per token
    "training_cost_ratio": 0.10,  # "less than 10% of the training cost (GPU hours) of Qwen3-32B" (9.3% in the post)
    "throughput_ratio": 10.0,  # "more than 10x the throughput of Qwen3-32B" past 32K tokens of context
    "context": 32768,
}
# Qwen/Qwen3-32B config.json (huggingface.co/Qwen/Qwen3-32B): the values that decide parameters and cost.
QWEN3_32B = dict(
    vocab_size=151936,
    hidden_size=5120,
    intermediate_size=25600,
    num_hidden_layers=64,
    num_attention_heads=64,
    num_key_value_heads=8,
    head_dim=128,
    tie_word_embeddings=False,
    max_position_embeddings=40960,
)
# Tokens trained: Qwen3 technical report (arXiv 2505.09388): 36T for the Qwen3 family; the Qwen3-Next post:
# "a uniformly sampled subset (15T tokens) of Qwen3's 36T-token pretraining corpus".
TOKENS_QWEN3 = 36e12
TOKENS_QWEN3_NEXT = 15e12
# NVIDIA H100 SXM datasheet: 989 TFLOPS dense BF16, 3.35 TB/s HBM3: FLOPs a step can do per byte it reads.
H100_FLOPS_PER_BYTE = 989e12 / 3.35e12


def qwen3_32b_config() -> object:
    """A ``transformers.Qwen3Config`` with Qwen3-32B's published ``config.json`` values (``QWEN3_32B``)."""
    import transformers

    return transformers.Qwen3Config(**QWEN3_32B)


def training_compute_ratio(
    config: object, reference: object, *, tokens: float, reference_tokens: float, embeddings: bool = True
) -> float:
    """6 * N_active * D of ``config`` over the same for ``reference`` (D = tokens trained).

    ``embeddings=False`` counts N without the input embedding and the output head (Kaplan et al.'s N).
    """
    tokens = as_float(tokens, "tokens", low=1.0)
    reference_tokens = as_float(reference_tokens, "reference_tokens", low=1.0)
    a, b = model_cost(config), model_cost(reference)
    n_a = a.params_active if embeddings else a.params_active_non_embedding
    n_b = b.params_active if embeddings else b.params_active_non_embedding
    return (6 * n_a * tokens) / (6 * n_b * reference_tokens)


def decode_throughput(
    cost: ModelCost, *, kv_shared: bool = False, flops_per_byte: float = H100_FLOPS_PER_BYTE
) -> dict[str, float]:
    """Tokens per step-time unit of one decode step of ``cost.batch`` sequences on a roofline.

    Time is counted in bytes at the GPU's bandwidth: a step costs max(bytes read, FLOPs / flops_per_byte).
    ``kv_shared``: every sequence attends to one shared prompt whose KV cache is read once per step.
    """
    if not isinstance(cost, ModelCost):
        raise TypeError(f"cost must be a ModelCost (from model_cost(...)), got {type(cost).__name__}")
    if not isinstance(kv_shared, bool):
        raise TypeError(f"kv_shared must be True or False, got {kv_shared!r}")
    flops_per_byte = as_float(flops_per_byte, "flops_per_byte", low=1e-9, hint="a GPU's peak FLOPs / bandwidth")
    b = cost.batch
    kv = cost.decode_bytes_kv / b if kv_shared else cost.decode_bytes_kv  # per token
    bytes_step = b * (cost.decode_bytes_weights + kv + cost.decode_bytes_state)  # weights already shared by b
    compute_step = b * cost.decode_flops / flops_per_byte
    step = max(bytes_step, compute_step)
    return {
        "bytes_per_step": bytes_step,
        "flops_per_step": b * cost.decode_flops,
        "step_time": step,  # in bytes-at-bandwidth units
        "tokens_per_time": b / step,
        "bound": "memory" if bytes_step >= compute_step else "compute",
    }


def decode_throughput_table(
    config: object,
    reference: object,
    *,
    contexts: Iterable[int] = (4096, 32768, 262144),
    batches: Iterable[int] = (1, 2, 4, 8, 16, 32, 64, 128, 256),
    kv_shared: bool = False,
    flops_per_byte: float = H100_FLOPS_PER_BYTE,
) -> pd.DataFrame:
    """One row per (context, batch): each model's decode throughput on the roofline and their ratio.

    Columns: context, batch, kv_shared, bound / bound_reference (memory or compute), tokens_per_time /
    tokens_per_time_reference, ratio (config's throughput over the reference's: "Nx faster"), memory_GB /
    memory_GB_reference (weights + KV cache + state held, bf16 weights).
    """
    contexts = as_int_list(contexts, "contexts", low=1)
    batches = as_int_list(batches, "batches", low=1)
    cost, ref_cost = cost_function(config), cost_function(reference)  # each config read once
    rows = []
    for c in contexts:
        for b in batches:
            mine, ref = cost(c, b), ref_cost(c, b)
            t, r = (decode_throughput(x, kv_shared=kv_shared, flops_per_byte=flops_per_byte) for x in (mine, ref))
            rows.append(
                {
                    "context": c,
                    "batch": b,
                    "kv_shared": kv_shared,
                    "bound": t["bound"],
                    "bound_reference": r["bound"],
                    "tokens_per_time": t["tokens_per_time"],
                    "tokens_per_time_reference": r["tokens_per_time"],
                    "ratio": t["tokens_per_time"] / r["tokens_per_time"],
                    "memory_GB": mine.memory / 1e9,
                    "memory_GB_reference": ref.memory / 1e9,
                }
            )
    return pd.DataFrame(rows)


def max_batch(config: object, *, context: int, memory_GB: float) -> int:
    """The most sequences of ``context`` tokens whose KV cache and state fit beside the weights (0: none; bf16).

    ``config`` may also be a ``cost_function`` of a config (faster when asked about many contexts).
    """
    memory_GB = as_float(memory_GB, "memory_GB", low=0.0)
    one = config(context, 1) if callable(config) else model_cost(config, context=context)
    free = memory_GB * 1e9 - one.weights_memory
    return max(0, int(free // (one.kv_cache_memory + one.state_memory)))


def equal_memory_throughput(
    config: object,
    reference: object,
    *,
    contexts: Iterable[int] = (4096, 32768, 65536, 131072, 262144),
    memory_GB: float = 640.0,
    flops_per_byte: float = H100_FLOPS_PER_BYTE,
) -> pd.DataFrame:
    """Each model decoding the largest batch that fits ``memory_GB`` (bf16), per context: throughput ratio.

    This is how a server runs: a smaller KV cache per sequence lets more sequences share each weight read.
    Columns: context, memory_GB, batch, batch_reference, ratio (NaN where either model fits no sequence).
    """
    cost, ref_cost = cost_function(config), cost_function(reference)  # each config read once
    rows = []
    for c in as_int_list(contexts, "contexts", low=1):
        b, b_ref = max_batch(cost, context=c, memory_GB=memory_GB), max_batch(ref_cost, context=c, memory_GB=memory_GB)
        ratio = float("nan")
        if b and b_ref:
            t = decode_throughput(cost(c, b), flops_per_byte=flops_per_byte)
            r = decode_throughput(ref_cost(c, b_ref), flops_per_byte=flops_per_byte)
            ratio = t["tokens_per_time"] / r["tokens_per_time"]
        rows.append({"context": c, "memory_GB": memory_GB, "batch": b, "batch_reference": b_ref, "ratio": ratio})
    return pd.DataFrame(rows)


def article_check(
    config: object,
    reference: object,
    *,
    context: int = ARTICLE["context"],
    batch: int = 1,
    tokens: float = TOKENS_QWEN3_NEXT,
    reference_tokens: float = TOKENS_QWEN3,
    flops_per_byte: float = H100_FLOPS_PER_BYTE,
    memory_GB: float = 640.0,
) -> pd.DataFrame:
    """The article's claims beside the computed numbers, one row per (claim, way of counting).

    Columns: claim, article (the number as the article states it), computed (a float), as_text (the same,
    formatted), holds (does the computed number satisfy the claim; "3B" when it rounds to 3B), counting (the
    assumption of that row).
    ``memory_GB`` (default 640: eight 80 GB GPUs) is the memory both models serve from in the equal-memory row.
    """
    context = as_int(context, "context", low=1)
    batch = as_int(batch, "batch", low=1)
    parts = active_parameters(config).set_index("component")
    embedding = float(parts.loc["embedding", "active"])
    head = float(parts.loc["lm_head", "active"]) if "lm_head" in parts.index else 0.0
    cost = model_cost(config, context=context, batch=batch)
    ref = model_cost(reference, context=context, batch=batch)
    n_active = (cost.params_active, cost.params_active_non_embedding)  # D does not change N: read once
    ref_active = (ref.params_active, ref.params_active_non_embedding)
    rows = [
        (
            "80B total",
            "80B",
            cost.params_total / 1e9,
            "B",
            cost.params_total <= 1.05 * ARTICLE["params_total"],
            "every parameter, embedding and output head included",
        ),
    ]
    active_ways = [
        (
            cost.params_active,
            "everything a token uses: embedding row, attention, shared expert, 10 of 512 experts, head",
        ),
        (cost.params_active - embedding, "without the input embedding (a token reads one row of it, no FLOPs)"),
        (cost.params_active - embedding - head, "without the embedding and the output head (the body only)"),
    ]
    for value, how in active_ways:
        rows.append(("3B active", "3B", value / 1e9, "B", round(value / 1e9) == 3, how))
    cost_ways = [
        (tokens, reference_tokens, True, "6·N_active·D; N with embeddings; D: the tokens each model was trained on"),
        (
            tokens,
            reference_tokens,
            False,
            "6·N_active·D; N without embeddings; D: the tokens each model was trained on",
        ),
        (reference_tokens, reference_tokens, True, "6·N_active·D; N with embeddings; the same D for both"),
        (reference_tokens, reference_tokens, False, "6·N_active·D; N without embeddings; the same D for both"),
    ]
    for d, d_ref, emb, how in cost_ways:
        ratio = (6 * n_active[0 if emb else 1] * d) / (
            6 * ref_active[0 if emb else 1] * d_ref
        )  # = training_compute_ratio
        rows.append(("<10% training cost", "<10%", ratio, "%", ratio < ARTICLE["training_cost_ratio"], how))
    prefill = ref.prefill_flops / cost.prefill_flops
    rows.append(
        (
            ">10x throughput",
            ">10x",
            prefill,
            "x",
            prefill > ARTICLE["throughput_ratio"],
            f"prefill of one {context}-token sequence, compute-bound: FLOPs ratio",
        )
    )
    t = decode_throughput(cost, flops_per_byte=flops_per_byte)
    r = decode_throughput(ref, flops_per_byte=flops_per_byte)
    ratio = t["tokens_per_time"] / r["tokens_per_time"]
    rows.append(
        (
            ">10x throughput",
            ">10x",
            ratio,
            "x",
            ratio > ARTICLE["throughput_ratio"],
            f"decode at {context} tokens, both at batch {batch}; roofline at {flops_per_byte:.0f} FLOPs/byte",
        )
    )
    same_memory = equal_memory_throughput(
        config, reference, contexts=[context], memory_GB=memory_GB, flops_per_byte=flops_per_byte
    ).iloc[0]
    rows.append(
        (
            ">10x throughput",
            ">10x",
            same_memory["ratio"],
            "x",
            same_memory["ratio"] > ARTICLE["throughput_ratio"],
            f"decode at {context} tokens, each model at the largest batch that fits {memory_GB:g} GB "
            f"({int(same_memory['batch'])} vs {int(same_memory['batch_reference'])} sequences)",
        )
    )
    out = pd.DataFrame(rows, columns=["claim", "article", "computed", "unit", "holds", "counting"])
    out["as_text"] = [_fmt(v, u) for v, u in zip(out["computed"], out["unit"])]
    return out[["claim", "article", "as_text", "holds", "counting", "computed"]]


def _fmt(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value:.1%}"
    if unit == "x":
        return f"{value:.1f}x"
    return f"{value:.2f}B"
