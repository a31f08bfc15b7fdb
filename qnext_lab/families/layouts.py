"""Layer kinds of a decoder stack, read from a transformers config: what each layer attends to and keeps.

The cost model needs, per decoder layer, what its sequence mixer reads per token and holds per sequence.
Families spell their layouts differently (``layer_types`` lists with a dozen type names, Jamba's
``attn_layer_period``/``offset``, Nemotron-H's ``layers_block_type``, LongCat-Flash's two attention
sub-layers per layer, counted by transformers as two layers) and their attention differently (multi-head latent attention, lightning indexers,
compressed keys, chunks, sliding windows), and their recurrent layers (Gated DeltaNet, Kimi Delta Attention,
Mamba 1/2, lightning attention, LFM2 short convolutions) keep different states. ``stack_layout(config)`` turns
any of these into one ``StackLayout``; an unknown layer type is a ValueError naming it. Knows nothing about
parameter counts, models or traces.

    layout = stack_layout(transformers.AutoConfig.for_model("deepseek_v4"))
    layout.kinds[:3]              # ("compressed", "compressed", "compressed")

Kinds: ``full`` (every past token), ``sliding`` (the last ``window``), ``chunked`` (tokens of the current
``window``-sized chunk), ``indexed`` (an indexer scores every past token, attention reads ``selected`` of
them: DSA, QSA), ``compressed`` (DeepSeek-V4: one key per ``compress`` tokens, ``selected`` of them read
through an indexer when set, plus a ``window`` of recent raw tokens), ``state`` (a fixed-size recurrent and/or
convolution state), ``none`` (a layer without a sequence mixer, e.g. Nemotron-H's MLP/MoE layers).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..checks import is_int
from .config_fields import check_config, num_layers

__all__ = ["LayerKind", "StackLayout", "qsa_off", "stack_layout", "with_qsa_placeholder"]

_TYPE_KINDS = {
    "full_attention": "full",
    "attention": "full",
    "global": "full",
    "sliding_attention": "sliding",
    "local": "sliding",
    "chunked_attention": "chunked",
    "indexed_attention": "indexed",
    "sparse_attention": "indexed",
    "compressed_sparse_attention": "compressed",
    "heavily_compressed_attention": "compressed",
    "linear_attention": "state",
    "mamba": "state",
    "mamba2": "state",
    "conv": "state",
    "moe": "none",
    "mlp": "none",
    "hybrid": "full",  # Inkling: global attention layers
    "hybrid_sliding": "sliding",  # Inkling: sliding-window layers (sliding_window_size)
}


@dataclass(frozen=True)
class LayerKind:
    """One decoder layer's sequence mixer (see the module docstring for the kinds)."""

    kind: str
    window: int | None = None  # sliding window / chunk size / recent raw tokens of a compressed layer
    selected: int | None = None  # indexed / compressed: entries each query attends to (None: all)
    compress: int = 1  # compressed: tokens per compressed key


@dataclass(frozen=True)
class StackLayout:
    """Per-layer kinds plus the shapes the cost model multiplies (elements, not bytes)."""

    layers: tuple[LayerKind, ...]
    attn_flops_per_key: int  # QK^T and AV multiply-adds x 2 for one query against one key (all heads)
    kv_elems_per_token: int  # elements cached per token per attention layer (keys + values, or MLA latent)
    indexer_flops_per_key: int  # indexed / compressed: the indexer's score for one key (0: no indexer)
    indexer_elems_per_token: int  # indexer keys cached per token
    state_elems: int  # recurrent state elements per state layer per sequence (kept in state_dtype)
    conv_elems: int  # convolution state elements per state layer per sequence (kept in dtype)
    state_flops_per_token: int  # one token through one state layer's recurrence
    streams: int = 1  # hyper-connection residual streams (1: a plain residual)
    mtp_layers: int = 0  # multi-token-prediction layers the config declares (transformers drops their weights)

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(layer.kind for layer in self.layers)


def _int(config: object, *names: str, default: int | None = None) -> int | None:
    for name in names:
        value = getattr(config, name, None)
        if is_int(value):
            return int(value)
    return default


def _type_list(text: object, n: int) -> list[str]:
    types = getattr(text, "layer_types", None) or getattr(text, "layers_block_type", None)
    if isinstance(types, (list, tuple)):
        return [str(t) for t in types]
    period, offset = _int(text, "attn_layer_period"), _int(text, "attn_layer_offset")
    if period:  # Jamba: attention where i % period == offset, Mamba elsewhere
        return ["full_attention" if i % period == (offset or 0) else "mamba" for i in range(n)]
    if getattr(text, "model_type", "") == "lfm2_moe":
        raise ValueError(
            "Lfm2MoeConfig.layer_types is None (its default): transformers cannot build that model either. Pass "
            "the checkpoint's config (AutoConfig.from_pretrained) or layer_types=['conv', ..., 'full_attention']"
        )
    window = _int(text, "sliding_window")
    sliding = window is not None and getattr(text, "use_sliding_window", True) is not False
    return ["sliding_attention" if sliding else "full_attention"] * n


def _attention(text: object) -> tuple[int, int]:
    """(flops per query-key pair over all heads, cached elements per token) for one attention layer."""
    hidden = _int(text, "hidden_size")
    q_heads = _int(text, "num_attention_heads")
    kv_lora = _int(text, "kv_lora_rank")
    if kv_lora:  # multi-head latent attention: a latent of kv_lora_rank + rope dims is cached per token
        rope = _int(text, "qk_rope_head_dim", default=0)
        qk = _int(text, "qk_head_dim", default=None) or (_int(text, "qk_nope_head_dim", default=0) + rope)
        v = _int(text, "v_head_dim", default=qk)
        return 2 * q_heads * (qk + v), kv_lora + rope
    head_dim = _int(text, "head_dim") or hidden // q_heads
    kv_heads = _int(text, "num_key_value_heads") or q_heads
    v_dim = _int(text, "v_head_dim", default=head_dim)
    return 2 * q_heads * (head_dim + v_dim), kv_heads * (head_dim + v_dim)


def _state(text: object) -> tuple[int, int, int]:
    """(recurrent elements, conv elements, flops per token) of one state layer of this family."""
    hidden = _int(text, "hidden_size")
    if _int(text, "linear_num_value_heads"):  # Gated DeltaNet (Qwen3-Next, Qwen3.5, Qwen3.8)
        vh, kh = _int(text, "linear_num_value_heads"), _int(text, "linear_num_key_heads")
        kd, vd = _int(text, "linear_key_head_dim"), _int(text, "linear_value_head_dim")
        kernel = _int(text, "linear_conv_kernel_dim", default=4)
        return vh * kd * vd, (2 * kh * kd + vh * vd) * kernel, 7 * vh * kd * vd
    if _int(text, "linear_num_heads"):  # Kimi Delta Attention
        h, d = _int(text, "linear_num_heads"), _int(text, "linear_head_dim")
        kernel = _int(text, "linear_conv_kernel_dim", default=4)
        return h * d * d, 3 * h * d * kernel, 7 * h * d * d
    mamba_heads = _int(text, "mamba_num_heads", "mamba_n_heads")
    if mamba_heads:  # Mamba-2 (Nemotron-H, Granite hybrid)
        head = _int(text, "mamba_head_dim", "mamba_d_head")
        d_state = _int(text, "ssm_state_size", "mamba_d_state")
        groups = _int(text, "n_groups", "mamba_n_groups", default=1)
        kernel = _int(text, "conv_kernel", "mamba_d_conv", default=4)
        inner = mamba_heads * head
        return inner * d_state, (inner + 2 * groups * d_state) * kernel, 6 * inner * d_state
    if _int(text, "mamba_d_state"):  # Mamba-1 (Jamba)
        inner = _int(text, "mamba_expand", default=2) * hidden
        d_state = _int(text, "mamba_d_state")
        return inner * d_state, inner * _int(text, "mamba_d_conv", default=4), 6 * inner * d_state
    if _int(text, "conv_L_cache"):  # LFM2 short convolution: a (hidden, L) window, no recurrence
        kernel = _int(text, "conv_L_cache")
        return 0, hidden * kernel, 2 * hidden * kernel
    # lightning / linear attention with a (head_dim x head_dim) state per head (MiniMax-01, Bailing hybrid)
    q_heads = _int(text, "num_attention_heads")
    head_dim = _int(text, "head_dim") or hidden // q_heads
    kernel = _int(text, "short_conv_kernel_size", "linear_conv_kernel_dim", default=0)
    return q_heads * head_dim * head_dim, 3 * hidden * kernel, 4 * q_heads * head_dim * head_dim


def _indexer(text: object) -> tuple[int, int]:
    heads = _int(text, "index_n_heads", "indexer_n_heads", default=0)
    dim = _int(text, "index_head_dim", "indexer_head_dim", default=0)
    kv = _int(text, "indexer_kv_heads", default=1)
    return 2 * heads * dim, kv * dim if heads else 0


_QSA_FIELDS = ("indexer_n_heads", "indexer_kv_heads", "indexer_head_dim", "indexer_budget", "indexer_compress_ratio")


def qsa_off(text: object) -> bool:
    """A Qwen3.8-Flash-Next (``qwen4_exp``) config that sets none of the QSA indexer fields.

    Its config class documents them as optional, with "Setting this enables QSA on full-attention layers", and
    validates the QSA values only when one is set; its ``layer_types`` still say ``indexed_attention`` (the
    default builds them so, and a checkpoint's ``full_attention`` entries are renamed to it). Unset, there is no
    budget to select with: the cost model takes those layers as full attention, the most they can read (the
    modeling code always builds an indexer, so transformers cannot build such a model; a checkpoint's config
    sets the fields, and then the layers are costed as QSA)."""
    return all(hasattr(text, f) and getattr(text, f) is None for f in _QSA_FIELDS)


def with_qsa_placeholder(config: object) -> object:
    """A copy of a ``qsa_off`` config that transformers can build on the meta device: the smallest valid QSA
    sizes, so that its modeling code (which always builds an indexer) runs; whoever counts the parameters drops
    the ``indexer`` modules again (``analysis.active_params``: QSA off has no indexer)."""
    import copy

    config = copy.deepcopy(config)
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    rotary = int(text.head_dim * (text.rope_parameters or {}).get("partial_rotary_factor", 1.0))
    for name, value in zip(_QSA_FIELDS, (1, 1, max(1, rotary), 1, 1)):
        setattr(text, name, value)
    return config


def stack_layout(config: object) -> StackLayout:
    """The ``StackLayout`` of a transformers config (checked first with ``check_config``)."""
    text = check_config(config)
    n = num_layers(text)
    types = _type_list(text, n)
    if len(types) != n:
        raise ValueError(f"{type(text).__name__} lists {len(types)} layer types for {n} decoder layers")
    unknown = sorted({t for t in types if t not in _TYPE_KINDS})
    if unknown:
        raise ValueError(f"layer type(s) {unknown} are not ones the cost model knows ({sorted(_TYPE_KINDS)})")
    window = _int(text, "sliding_window", "sliding_window_size")
    chunk = _int(text, "attention_chunk_size")
    select = _int(text, "index_topk", "indexer_budget")
    rates = getattr(text, "compress_rates", None) or {}
    layers = []
    for t in types:
        kind = _TYPE_KINDS[t]
        if kind == "sliding":
            if not window:
                raise ValueError(f"{type(text).__name__} has sliding-attention layers but no sliding_window")
            layers.append(LayerKind(kind, window=window))
        elif kind == "chunked":
            if not chunk:
                raise ValueError(f"{type(text).__name__} has chunked-attention layers but no attention_chunk_size")
            layers.append(LayerKind(kind, window=chunk))
        elif kind == "indexed" and qsa_off(text):
            layers.append(LayerKind("full"))  # QSA not enabled: these layers attend to every past token
        elif kind == "indexed":
            if select is None:
                raise ValueError(
                    f"{type(text).__name__} has indexed-attention layers but no indexer budget (index_topk / "
                    "indexer_budget is None): use the checkpoint's config, or set the indexer's sizes (DSA: "
                    "index_topk, index_n_heads, index_head_dim; QSA: indexer_n_heads, indexer_kv_heads, "
                    "indexer_head_dim, indexer_budget and indexer_compress_ratio)"
                )
            compress = _int(text, "indexer_compress_ratio", default=1)
            layers.append(LayerKind(kind, selected=select, compress=compress))
        elif kind == "compressed":
            rate = int(rates.get(t, 1)) if isinstance(rates, dict) else 1
            chosen = select if t == "compressed_sparse_attention" else None  # HCA reads every compressed key
            layers.append(LayerKind(kind, window=window, selected=chosen, compress=max(rate, 1)))
        else:
            layers.append(LayerKind(kind))
    attn_flops, kv_elems = _attention(text)
    idx_flops, idx_elems = _indexer(text)
    has_state = any(layer.kind == "state" for layer in layers)
    state, conv, state_flops = _state(text) if has_state else (0, 0, 0)
    return StackLayout(
        layers=tuple(layers),
        attn_flops_per_key=attn_flops,
        kv_elems_per_token=kv_elems,
        indexer_flops_per_key=idx_flops,
        indexer_elems_per_token=idx_elems,
        state_elems=state,
        conv_elems=conv,
        state_flops_per_token=state_flops,
        streams=_int(text, "hc_mult", "hc_count", default=1),
        mtp_layers=_int(text, "num_nextn_predict_layers", "num_mtp_layers", default=0),
    )
