"""Measured cost against context length: prefill time, decode time per token and cache memory of a real model.

The measured side of ``cost``: for each context length, prefill a batch of random token ids from scratch
(timed), then decode single tokens on top of that cache (each step timed) and read the bytes the cache really
holds (``cost.cache_memory``). Medians over ``repeats``. Used by notebook 08 and ``benchmarks/bench_context.py``
to put measured curves beside ``cost_table``'s predictions. Knows nothing about figures or traces.

    df = measure_context(model, contexts=[256, 1024, 4096])   # one row per context

Timings are wall-clock on whatever device holds the model (CUDA is synchronised around each timed call).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable

import pandas as pd
import torch
from torch import nn

from ..checks import as_int, as_int_list
from ..families.config_fields import context_length
from .cost import cache_memory

__all__ = ["MAX_TOKENS", "measure_context"]

MAX_TOKENS = 1 << 20  # tokens in one measured forward (batch x context); a ceiling the caller may raise


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_context(
    model: nn.Module,
    contexts: int | Iterable[int],
    *,
    batch: int = 1,
    decode_tokens: int = 8,
    repeats: int = 3,
    seed: int = 0,
    progress: bool = False,
    max_tokens: int = MAX_TOKENS,
) -> pd.DataFrame:
    """One row per context: ``context, batch, prefill_s, decode_s_per_token, kv_bytes, state_bytes``.

    ``contexts``: one token count or a list of them (integers: ``2.9`` is refused, not truncated). ``batch`` x
    the longest context may be at most ``max_tokens`` (default 2**20 tokens in one forward), so a typo cannot
    make the machine allocate gigabytes before anything is measured.

    ``prefill_s``: median time of a forward over ``batch`` x ``context`` new tokens (cache created).
    ``decode_s_per_token``: median time of one decode step (one new token per sequence) with ``context``
    tokens already cached. ``kv_bytes`` / ``state_bytes``: what the cache holds after the prefill (measured).
    """
    if not isinstance(model, nn.Module) or not hasattr(model, "config"):
        raise TypeError(f"expected a transformers model, got {type(model).__name__}")
    contexts = as_int_list(contexts, "contexts", low=1, hint="; contexts are token counts, e.g. [512, 4096]")
    if not contexts:
        raise ValueError("contexts is empty; give at least one token count, e.g. [512, 4096]")
    max_tokens = as_int(max_tokens, "max_tokens", low=1)
    batch = as_int(batch, "batch", low=1, high=max_tokens)
    decode_tokens = as_int(decode_tokens, "decode_tokens", low=1, high=max_tokens)
    repeats = as_int(repeats, "repeats", low=1, high=1000)
    if batch * max(contexts) > max_tokens:
        raise ValueError(
            f"batch {batch} x context {max(contexts)} = {batch * max(contexts):,} tokens in one forward, over "
            f"max_tokens={max_tokens:,}; measure a smaller batch or context, or raise max_tokens if the "
            "machine has the memory"
        )
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    limit = context_length(config)
    if limit is not None and max(contexts) + decode_tokens > limit:
        raise ValueError(
            f"context {max(contexts)} + {decode_tokens} decode tokens exceeds the model's "
            f"max_position_embeddings ({limit}); raise it in the config or measure shorter contexts"
        )
    device = next(model.parameters()).device
    vocab = int(config.vocab_size)
    g = torch.Generator().manual_seed(seed)
    rows = []
    from tqdm.auto import tqdm

    for context in tqdm(contexts, disable=not progress, desc="contexts"):
        prefill, decode = [], []
        for _ in range(repeats):
            ids = torch.randint(0, vocab, (batch, context), generator=g).to(device)  # (B, c)
            step = torch.randint(0, vocab, (batch, decode_tokens), generator=g).to(device)  # (B, d)
            with torch.no_grad():
                _sync(device)
                start = time.perf_counter()
                out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
                _sync(device)
                prefill.append(time.perf_counter() - start)
                cache = out.past_key_values
                held = cache_memory(cache)
                for t in range(decode_tokens):
                    start = time.perf_counter()
                    out = model(input_ids=step[:, t : t + 1], cache=cache, use_cache=True)
                    _sync(device)
                    decode.append(time.perf_counter() - start)
                    cache = out.past_key_values
            del out, cache
        rows.append(
            dict(
                context=context,
                batch=batch,
                prefill_s=statistics.median(prefill),
                decode_s_per_token=statistics.median(decode),
                kv_bytes=held["kv"],
                state_bytes=held["state"],
            )
        )
    return pd.DataFrame(rows)
