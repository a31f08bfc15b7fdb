"""Claim: Qwen3-Next's 3:1 hybrid layout (Gated DeltaNet : full attention) decodes faster and holds less memory
than the same model with every layer full attention, more so the longer the context; the cost model says how much.

Builds a random Qwen3-Next (``--size small``: fits a laptop CPU; ``--size gpu``: a 1B-class shape for one GPU)
twice from one config: as configured (full attention where (i+1) % 4 == 0) and with every layer full attention
(``qnext_lab.full_attention_config``). For each context length, ``qnext_lab.measure_context`` prefills random
tokens from scratch (timed) and decodes single tokens on that cache (each step timed), models interleaved, medians
over repeats; the cache's real bytes are read from its tensors. Beside each measurement: the cost model's decode
bytes, prefill FLOPs and memory for the same config (``qnext_lab.cost_table``).

    nice -n 15 python benchmarks/bench_context.py                          # CPU, small model, a few minutes
    python benchmarks/bench_context.py --size gpu --contexts 4096 16384 65536 --device cuda
"""

import argparse
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import pandas as pd
import torch
import transformers

import qnext_lab as ql

SIZES = {
    # heads chosen so that the KV cache per token is large next to the per-layer fixed cost of a tiny model
    "small": dict(
        vocab_size=1024,
        hidden_size=256,
        num_hidden_layers=8,
        num_attention_heads=4,
        num_key_value_heads=4,
        head_dim=64,
        linear_num_key_heads=2,
        linear_num_value_heads=4,
        linear_key_head_dim=32,
        linear_value_head_dim=32,
        num_experts=16,
        num_experts_per_tok=2,
        moe_intermediate_size=128,
        shared_expert_intermediate_size=128,
    ),
    # Qwen3-Next's attention shapes (16 q / 2 kv heads of 256, DeltaNet 16/32 heads of 128) at 24 layers, 64 experts
    "gpu": dict(
        vocab_size=32000,
        hidden_size=2048,
        num_hidden_layers=24,
        num_attention_heads=16,
        num_key_value_heads=2,
        head_dim=256,
        linear_num_key_heads=16,
        linear_num_value_heads=32,
        linear_key_head_dim=128,
        linear_value_head_dim=128,
        num_experts=64,
        num_experts_per_tok=8,
        moe_intermediate_size=512,
        shared_expert_intermediate_size=512,
    ),
}


def build(size: str, max_context: int, device: str, dtype: torch.dtype):
    config = transformers.Qwen3NextConfig(**SIZES[size], max_position_embeddings=max_context + 64)
    models = {}
    for name, cfg in (("hybrid 3:1", config), ("full attention", ql.full_attention_config(config))):
        torch.manual_seed(0)
        model = transformers.Qwen3NextForCausalLM(cfg).to(device=device, dtype=dtype).eval()
        model.set_experts_implementation("qnext")
        models[name] = model
    return config, models


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=sorted(SIZES), default="small")
    ap.add_argument("--contexts", type=int, nargs="+", default=[256, 1024, 2048, 4096, 8192])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--decode-tokens", type=int, default=8)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--threads", type=int, default=1, help="torch threads on CPU (1: steadier on a shared machine)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    transformers.logging.set_verbosity_error()

    config, models = build(args.size, max(args.contexts) + args.decode_tokens, args.device, dtype)
    device = (
        torch.cuda.get_device_name(0)
        if args.device.startswith("cuda")
        else f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {args.threads} thread(s)"
    )
    print(
        f"# {device}, torch {torch.__version__}, transformers {transformers.__version__}, "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC"
    )
    print(f"# --size {args.size} ({args.dtype}), repeats {args.repeats}, decode tokens {args.decode_tokens}")
    measured = {}
    for rep in range(args.repeats):  # interleave the two models so machine noise hits both alike
        for name in list(models) if rep % 2 == 0 else list(models)[::-1]:
            df = ql.measure_context(models[name], args.contexts, decode_tokens=args.decode_tokens, repeats=1, seed=rep)
            measured.setdefault(name, []).append(df)
    med = {name: pd.concat(dfs).groupby("context").median() for name, dfs in measured.items()}
    predicted = ql.cost_table(
        config, contexts=args.contexts, dtype=dtype, variants=["as configured", "every layer full attention"]
    ).set_index(["variant", "context"])
    print(
        "| context | decode ms/token hybrid | full | ratio full/hybrid (model: bytes ratio) | prefill s hybrid | full "
        "| ratio (model: FLOPs ratio) | cache MB hybrid | full | ratio (model) |"
    )
    print("|---:|" + "---:|" * 9)
    h, f = med["hybrid 3:1"], med["full attention"]
    for c in args.contexts:
        full = predicted.loc[("every layer full attention", c)]
        hy = predicted.loc[("as configured", c)]
        cache_h, cache_f = (
            h.loc[c, "kv_bytes"] + h.loc[c, "state_bytes"],
            f.loc[c, "kv_bytes"] + f.loc[c, "state_bytes"],
        )
        assert cache_h == hy.kv_cache_memory + hy.state_memory and cache_f == full.kv_cache_memory, (
            "cost model != cache"
        )
        print(
            f"| {c} | {h.loc[c, 'decode_s_per_token'] * 1e3:.1f} | {f.loc[c, 'decode_s_per_token'] * 1e3:.1f} "
            f"| {f.loc[c, 'decode_s_per_token'] / h.loc[c, 'decode_s_per_token']:.2f}x ({full.decode_time_ratio:.2f}x) "
            f"| {h.loc[c, 'prefill_s']:.2f} | {f.loc[c, 'prefill_s']:.2f} "
            f"| {f.loc[c, 'prefill_s'] / h.loc[c, 'prefill_s']:.2f}x ({full.prefill_ratio:.2f}x) "
            f"| {cache_h / 2**20:.1f} | {cache_f / 2**20:.1f} | {cache_f / cache_h:.2f}x "
            f"({(full.kv_cache_memory + full.state_memory) / (hy.kv_cache_memory + hy.state_memory):.2f}x) |",
            flush=True,
        )


if __name__ == "__main__":
    main()
