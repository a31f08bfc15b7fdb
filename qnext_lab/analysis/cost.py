"""Cost model: parameters, FLOPs, bytes and memory of a transformers config at a context length.

Answers "why is Qwen3-Next cheap" from its config alone: parameters total vs active per token (from
``active_parameters``, which builds the model on the ``meta`` device), FLOPs per token for prefill and decode,
bytes read per decode token (active weights, KV cache, Gated DeltaNet recurrent + conv state) and memory held
at a context length (weights, KV cache growing with context, recurrent state fixed). Works for any decoder
config transformers builds: Qwen3-Next's hybrid layout (``layer_types``), sliding-window layers, MoE (k of E
experts) and dense MLPs. ``cost_table`` adds the comparisons a reader asks for: the same config with every
layer full attention, and dense models of the same active and the same total size. Knows nothing about traces,
figures or running a model.

    c = model_cost(transformers.Qwen3NextConfig(), context=32768)   # ModelCost
    cost_table(config, contexts=[4096, 32768, 262144])              # one row per (variant, context)

Counting rules (each a choice, stated once here):
- FLOPs: 2 per multiply-add of every weight matrix a token uses (routed experts: k of E; output head: one
  V x H matmul per decoded token, and once per prefill, as ``generate`` keeps only the last logits); full
  attention adds 4 * q_heads * head_dim per attended key (QK^T and AV, causal); a Gated DeltaNet layer adds
  7 * v_heads * k_dim * v_dim per token (decay the state, read it with k, write the delta, read it with q:
  the recurrent form; chunked prefill kernels do the same work plus an intra-chunk term).
- Bytes read per decode token: each weight once per step, shared by the ``batch`` tokens of the step. A batch
  of b tokens reaches E * (1 - (1 - k/E)**b) experts per layer on average under uniform routing (b = 1: k).
  Each sequence reads its own KV cache (context keys and values per full-attention layer) and its recurrent
  and conv states.
- Memory held: all weights, plus batch * (context * KV bytes per token + the fixed per-sequence state). The
  KV cache and conv state are stored in ``dtype``; the recurrent state in ``state_dtype`` (fp32 in
  transformers' and flash-linear-attention's gated delta rule).

Dimension legend: c = context (tokens), b = batch (sequences), E = experts, k = experts per token.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import pandas as pd
import torch

from ..checks import as_int, as_int_list
from ..families.config_fields import text_config
from ..families.layouts import LayerKind, StackLayout
from .config_shape import ConfigShape, config_shape
from .offload_speed import OffloadCost, offload_cost

__all__ = ["ModelCost", "cache_memory", "cost_table", "full_attention_config", "cost_function", "model_cost"]

VARIANTS = ("as configured", "every layer full attention", "dense, same active size", "dense, same total size")


@dataclass(frozen=True)
class ModelCost:
    """Cost of one config at ``context`` tokens and ``batch`` sequences. Bytes and FLOPs are plain numbers."""

    name: str
    context: int
    batch: int
    bytes_per_param: int
    full_attention_layers: int
    linear_attention_layers: int  # layers with a fixed-size state (Gated DeltaNet, Mamba, short conv, ...)
    sliding_attention_layers: int  # sliding-window and chunked attention
    sparse_attention_layers: int  # indexed (DSA, QSA) and compressed (DeepSeek-V4) attention
    params_total: int
    params_active: int  # per token, embedding and head included
    params_active_non_embedding: int  # per token, without the input embedding and the output head
    decode_flops: float  # per decoded token, with `context` tokens in the cache (the new one included)
    prefill_flops: float  # for one sequence of `context` tokens
    decode_bytes_weights: float  # per decoded token (each weight read once per step, shared by the batch)
    decode_bytes_kv: float  # per decoded token: this sequence's KV cache
    decode_bytes_state: float  # per decoded token: this sequence's recurrent + conv states
    kv_bytes_per_token: int  # per sequence, all full/sliding-attention layers
    state_bytes_per_sequence: int  # recurrent + conv state of every linear-attention layer (independent of context)
    weights_memory: int  # bytes of all weights but the host embedding tables
    kv_cache_memory: int  # bytes held by the KV cache of `batch` sequences at `context` (indexer keys included)
    state_memory: int  # bytes held by `batch` sequences' recurrent + conv states
    host_memory: int = 0  # embedding tables kept in host memory (Qwen3.8-Flash-Next's n-gram tables)
    decode_bytes_host: float = 0.0  # per decoded token: rows read from those tables
    residual_streams: int = 1  # hyper-connection streams (DeepSeek-V4, Qwen3.8-Flash-Next: 4)
    mtp_layers: int = 0  # multi-token-prediction layers of the checkpoint (not in the model transformers builds)
    offload: OffloadCost | None = None  # hook: decode speed with experts offloaded (analysis/offload_speed.py)

    @property
    def prefill_flops_per_token(self) -> float:
        return self.prefill_flops / self.context

    @property
    def decode_bytes(self) -> float:
        """Bytes read per decoded token: weights + KV cache + states + host table rows."""
        return self.decode_bytes_weights + self.decode_bytes_kv + self.decode_bytes_state + self.decode_bytes_host

    @property
    def memory(self) -> int:
        """Bytes held: weights + KV cache + states."""
        return self.weights_memory + self.kv_cache_memory + self.state_memory

    @property
    def decode_intensity(self) -> float:
        """FLOPs per byte read while decoding (low: memory-bound)."""
        return self.decode_flops / self.decode_bytes

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out.update({f"offload_{k}": v for k, v in (out.pop("offload") or {}).items()})  # offload hook: flat columns
        out.update(
            prefill_flops_per_token=self.prefill_flops_per_token,
            decode_bytes=self.decode_bytes,
            memory=self.memory,
            decode_intensity=self.decode_intensity,
        )
        return out


def _dtype_bytes(dtype: torch.dtype | int, what: str) -> int:
    if isinstance(dtype, torch.dtype):
        return dtype.itemsize
    if isinstance(dtype, int) and not isinstance(dtype, bool) and dtype > 0:
        return dtype
    raise TypeError(f"{what} must be a torch.dtype (e.g. torch.bfloat16) or a byte count, got {dtype!r}")


MAX_CONTEXT = 1 << 24  # 16.8M tokens: 16x the longest public context window
MAX_BATCH = 1 << 20


def _positive_int(name: str, value: object, high: int = MAX_CONTEXT) -> int:
    return as_int(value, name, low=1, high=high)


def _keys_sum(context: int, cap: int | None) -> float:
    """Sum over positions p = 1..context of min(p, cap): keys attended over a whole prefill."""
    if cap is None or cap >= context:
        return context * (context + 1) / 2
    return cap * (cap + 1) / 2 + (context - cap) * cap


def _attention_terms(layout: StackLayout, c: int) -> tuple[float, float, float, float, float]:
    """(decode FLOPs, prefill FLOPs, KV elements read per decoded token, KV elements held, sequence-mixer
    FLOPs per token of the state layers) of every attention layer at context ``c`` (per sequence)."""
    per_key, kv, idx_flops, idx_elems = (
        layout.attn_flops_per_key,
        layout.kv_elems_per_token,
        layout.indexer_flops_per_key,
        layout.indexer_elems_per_token,
    )
    decode = prefill = read = held = 0.0
    for layer in layout.layers:
        if layer.kind == "full":
            decode += per_key * c
            prefill += per_key * _keys_sum(c, None)
            read += kv * c
            held += kv * c
        elif layer.kind == "sliding":
            w = min(c, layer.window)
            decode += per_key * w
            prefill += per_key * _keys_sum(c, layer.window)
            read += kv * w
            held += kv * w
        elif layer.kind == "chunked":  # the current chunk only; the cache keeps one chunk
            in_chunk = (c - 1) % layer.window + 1
            q, r = divmod(c, layer.window)
            decode += per_key * in_chunk
            prefill += per_key * (q * layer.window * (layer.window + 1) / 2 + r * (r + 1) / 2)
            read += kv * in_chunk
            held += kv * min(c, layer.window)
        elif layer.kind == "indexed":  # the indexer scores every (compressed) key; attention reads `selected`
            keys = c / layer.compress
            chosen = min(c, layer.selected or c)
            decode += idx_flops * keys + per_key * chosen
            prefill += idx_flops * _keys_sum(c, None) / layer.compress + per_key * _keys_sum(c, layer.selected)
            read += idx_elems * keys + kv * chosen
            held += kv * c + idx_elems * keys
        elif layer.kind == "compressed":  # one key per `compress` tokens (+ indexer) and a raw recent window
            m = c // layer.compress
            chosen = min(m, layer.selected) if layer.selected else m
            w = min(c, layer.window or 0)
            scored = idx_flops * m if layer.selected else 0.0
            decode += scored + per_key * (chosen + w)
            sel_sum = _keys_sum(c, layer.selected * layer.compress if layer.selected else None) / layer.compress
            prefill += (idx_flops * _keys_sum(c, None) / layer.compress if layer.selected else 0.0) + per_key * (
                sel_sum + _keys_sum(c, layer.window)
            )
            read += kv * (chosen + w) + (idx_elems * m if layer.selected else 0)
            held += kv * (m + w) + (idx_elems * m if layer.selected else 0)
    return decode, prefill, read, held, 0.0


def _evaluate(s: ConfigShape, context: int, batch: int, wbytes: int, sbytes: int) -> ModelCost:
    layout = s.layout
    kinds = layout.kinds
    state_layers = kinds.count("state")
    matmul = s.params_dense + s.params_experts_active  # per token, body only
    attn_decode, attn_prefill, kv_read, kv_held, _ = _attention_terms(layout, context)
    mix_flops = layout.state_flops_per_token * state_layers
    # hyper-connections: each sub-layer reads and writes `streams` copies of the residual through a small mix
    streams_flops = 2 * 2 * len(kinds) * layout.streams * layout.streams * s.hidden if layout.streams > 1 else 0
    per_token = 2 * matmul + mix_flops + streams_flops

    decode_flops = per_token + 2 * s.params_head + attn_decode
    prefill_flops = per_token * context + 2 * s.params_head + attn_prefill

    touched = s.reached_share(batch)  # share of the experts a step reaches
    step_weights = (s.params_dense + s.params_head + s.params_experts * touched) * wbytes + batch * s.hidden * wbytes
    kv_per_token = round(kv_held / context * wbytes) if context else 0  # average over the context
    state = state_layers * (layout.state_elems * sbytes + layout.conv_elems * wbytes)
    return ModelCost(
        name=s.name,
        context=context,
        batch=batch,
        bytes_per_param=wbytes,
        full_attention_layers=kinds.count("full"),
        linear_attention_layers=state_layers,
        sliding_attention_layers=kinds.count("sliding") + kinds.count("chunked"),
        sparse_attention_layers=kinds.count("indexed") + kinds.count("compressed"),
        params_total=s.params_total,
        params_active=round(s.params_total - s.params_dense - s.params_experts + matmul),  # + embedding, stored head
        params_active_non_embedding=round(matmul),
        decode_flops=float(decode_flops),
        prefill_flops=float(prefill_flops),
        decode_bytes_weights=step_weights / batch,
        decode_bytes_kv=float(kv_read * wbytes),
        decode_bytes_state=float(state),
        kv_bytes_per_token=kv_per_token,
        state_bytes_per_sequence=state,
        weights_memory=s.params_total * wbytes,
        kv_cache_memory=round(kv_held * wbytes) * batch,
        state_memory=state * batch,
        host_memory=s.params_host * wbytes,
        decode_bytes_host=float(s.params_host_active * wbytes),
        residual_streams=layout.streams,
        mtp_layers=layout.mtp_layers,
    )


def model_cost(
    config: object,
    *,
    context: int = 4096,
    batch: int = 1,
    dtype: torch.dtype | int = torch.bfloat16,
    state_dtype: torch.dtype | int = torch.float32,
    name: str | None = None,
    offload: dict | None = None,
) -> ModelCost:
    """The cost of ``config`` with ``context`` tokens per sequence and ``batch`` sequences (see the module doc).

    ``dtype``: weights, KV cache and conv state (a torch dtype or bytes per element); ``state_dtype``: the
    Gated DeltaNet recurrent state. ``offload``: keyword arguments of ``offload_cost`` (format, machine, slots,
    hit_rate, mode, ...): the result's ``offload`` field then predicts decode speed with the experts offloaded.
    """
    context, batch = _positive_int("context", context), _positive_int("batch", batch, MAX_BATCH)
    cost = _evaluate(
        config_shape(config, name),
        context,
        batch,
        _dtype_bytes(dtype, "dtype"),
        _dtype_bytes(state_dtype, "state_dtype"),
    )
    return cost if offload is None else _with_offload(config, cost, offload)


def _with_offload(config: object, cost: ModelCost, offload: dict) -> ModelCost:
    """The offload hook: ``offload_cost``'s prediction attached to ``cost``."""
    if not isinstance(offload, dict):
        raise TypeError(f"offload must be a dict of offload_cost keyword arguments, got {type(offload).__name__}")
    return dataclasses.replace(cost, offload=offload_cost(config, cost, **offload))


def cost_function(
    config: object,
    *,
    dtype: torch.dtype | int = torch.bfloat16,
    state_dtype: torch.dtype | int = torch.float32,
    name: str | None = None,
) -> Callable[[int, int], ModelCost]:
    """``model_cost`` as a function of (context, batch) with the config read once (building it is the slow part)."""
    shape = config_shape(config, name)
    wbytes, sbytes = _dtype_bytes(dtype, "dtype"), _dtype_bytes(state_dtype, "state_dtype")

    def cost(context: int, batch: int = 1) -> ModelCost:
        return _evaluate(
            shape, _positive_int("context", context), _positive_int("batch", batch, MAX_BATCH), wbytes, sbytes
        )

    return cost


def full_attention_config(config: object) -> object:
    """A copy of ``config`` with every decoder layer full attention (same heads, same MLPs)."""
    text = text_config(config)
    out = copy.deepcopy(text)
    if getattr(out, "layer_types", None) is not None:
        out.layer_types = ["full_attention"] * int(out.num_hidden_layers)
    if hasattr(out, "use_sliding_window"):
        out.use_sliding_window = False
    if getattr(out, "sliding_window", None) is not None:
        out.sliding_window = None
    return out


def _all_full(s: ConfigShape) -> ConfigShape:
    """``s`` with every sequence mixer replaced by full attention (same heads, same MLPs, no state)."""
    layout = dataclasses.replace(s.layout, layers=(LayerKind("full"),) * len(s.layout.layers))
    return dataclasses.replace(s, layout=layout)


def _dense_like(s: ConfigShape, params_non_embedding: float, name: str) -> ConfigShape:
    """A dense model with ``s``'s attention (every layer full) and this many non-embedding parameters."""
    return dataclasses.replace(
        _all_full(s),
        name=name,
        params_dense=round(params_non_embedding),
        params_experts=0,
        params_experts_active=0.0,
        num_experts=0,
        top_k=0,
        params_total=round(params_non_embedding) + s.params_total - s.params_dense - s.params_experts,
    )


def cost_table(
    config: object,
    *,
    contexts: Iterable[int] = (4096, 32768, 262144),
    batch: int = 1,
    dtype: torch.dtype | int = torch.bfloat16,
    state_dtype: torch.dtype | int = torch.float32,
    variants: Sequence[str] = VARIANTS,
    name: str | None = None,
    offload: dict | None = None,
) -> pd.DataFrame:
    """One row per (variant, context): the ModelCost fields plus ratios to the configured model.

    ``offload`` (keyword arguments of ``offload_cost``) adds ``offload_*`` columns to the configured model's rows.

    Variants: ``"as configured"``; ``"every layer full attention"`` (same config, linear and sliding layers
    made full attention); ``"dense, same active size"`` and ``"dense, same total size"`` (every layer full
    attention with the config's heads, and a dense MLP sized so that the non-embedding parameters equal the
    configured model's active, or total, non-embedding parameters). Ratio columns: ``decode_time_ratio``
    (decode bytes, i.e. memory-bound decode time), ``prefill_ratio`` (prefill FLOPs), ``memory_ratio``.
    """
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variant(s) {unknown}; choose from {VARIANTS}")
    contexts = as_int_list(contexts, "contexts", low=1, high=MAX_CONTEXT)
    if not contexts:
        raise ValueError("contexts=[] gives no row; pass context lengths such as [4096, 32768]")
    batch = _positive_int("batch", batch, MAX_BATCH)
    wbytes, sbytes = _dtype_bytes(dtype, "dtype"), _dtype_bytes(state_dtype, "state_dtype")
    base = config_shape(config, name)
    shapes = {"as configured": base}
    if "every layer full attention" in variants:
        shapes["every layer full attention"] = _all_full(base)
    active_body = base.params_dense + (base.params_experts_active if base.num_experts else base.params_experts)
    shapes["dense, same active size"] = _dense_like(base, active_body, base.name)
    shapes["dense, same total size"] = _dense_like(base, base.params_dense + base.params_experts, base.name)
    rows = []
    for context in contexts:
        ref = _evaluate(base, context, batch, wbytes, sbytes)
        for variant in variants:
            c = _evaluate(shapes[variant], context, batch, wbytes, sbytes)
            if offload is not None and variant == "as configured":
                c = _with_offload(config, c, offload)
            rows.append(
                dict(
                    variant=variant,
                    **c.to_dict(),
                    decode_time_ratio=c.decode_bytes / ref.decode_bytes,
                    prefill_ratio=c.prefill_flops / ref.prefill_flops,
                    memory_ratio=c.memory / ref.memory,
                )
            )
    return pd.DataFrame(rows)


def cache_memory(cache: object) -> dict[str, int]:
    """Bytes a transformers cache really holds: ``{"kv": keys + values, "state": recurrent + conv states}``.

    The measured counterpart of ``ModelCost.kv_cache_memory`` / ``state_memory`` (pass
    ``model(..., use_cache=True).past_key_values``).
    """
    layers = getattr(cache, "layers", None)
    if layers is None:
        raise TypeError(f"expected a transformers Cache (with .layers), got {type(cache).__name__}")

    def nbytes(value: object) -> int:
        if isinstance(value, torch.Tensor):
            return value.nbytes
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, (list, tuple)):
            return sum(nbytes(v) for v in value)
        return 0

    kv = sum(nbytes(getattr(layer, name, None)) for layer in layers for name in ("keys", "values"))
    state = sum(nbytes(getattr(layer, name, None)) for layer in layers for name in ("conv_states", "recurrent_states"))
    return {"kv": kv, "state": state}
