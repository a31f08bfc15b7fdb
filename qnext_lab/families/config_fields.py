"""Reading a transformers config the same way everywhere: top-k, expert counts, context length, layer count.

MoE families name the same quantity differently (``num_experts_per_tok``, ``num_experts_per_token``,
``moe_topk``; ``num_experts``, ``num_local_experts``, ``n_routed_experts``; ``num_hidden_layers``,
``num_layers``); this module is the one place that knows the spellings, and ``check_config`` the one place
that refuses an impossible config (top-k above the expert count, zero heads, negative sizes, absurd layer
counts) with a ValueError before anything is built. Capture, the cost model, ``active_parameters``, corpus
tracing and generation read these. Knows nothing about models, hooks or traces.

    top_k(config), num_experts(config), context_length(config)
    check_config(transformers.Qwen3NextConfig(num_experts_per_tok=600))   # ValueError
"""

from __future__ import annotations

from ..checks import is_int

__all__ = [
    "MAX_LAYERS",
    "check_config",
    "context_length",
    "num_experts",
    "num_layers",
    "text_config",
    "top_k",
    "zero_experts",
]

TOP_K_FIELDS = ("num_experts_per_tok", "num_experts_per_token", "moe_topk", "top_k_experts")
EXPERTS_FIELDS = ("num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts")
LAYERS_FIELDS = ("num_hidden_layers", "num_layers", "n_layer")
CONTEXT_FIELDS = ("max_position_embeddings", "max_sequence_length", "seq_length", "n_positions")
MAX_LAYERS = 1024
"""Most decoder layers a config may declare: 8x the deepest public LLM (about 126). Parameter counting builds
the model on the meta device, which takes minutes for 10^5 layers; a bound answers at once."""
MAX_SIZE = 2**24
"""Largest hidden / intermediate / vocabulary size accepted (16.7M; the largest public vocabularies are ~260K)."""


def text_config(config: object) -> object:
    """The text model's config (``get_text_config()`` of a multimodal config), checked to be a transformers one."""
    if not (hasattr(config, "to_dict") and hasattr(config, "model_type")):
        raise TypeError(
            f"expected a transformers config (e.g. transformers.Qwen3NextConfig()), got {type(config).__name__}"
        )
    return config.get_text_config() if hasattr(config, "get_text_config") else config


def _get(config: object, name: str) -> object:
    try:
        return getattr(config, name, None)
    except RuntimeError:  # a heterogeneous config's per-layer attribute read globally
        return None


def _first(config: object, names: tuple[str, ...]) -> object:
    for name in names:
        value = _get(config, name)
        if value is not None:
            return value
    return None


def top_k(config: object) -> int | None:
    """Experts per token as the config names it (None: not an MoE config, or it does not say)."""
    value = _first(text_config(config), TOP_K_FIELDS)
    return int(value) if is_int(value) else None


def num_experts(config: object) -> int | None:
    """Routed experts as the config names it (zero-computation experts not included; None: not said)."""
    value = _first(text_config(config), EXPERTS_FIELDS)
    return int(value) if is_int(value) else None


def zero_experts(config: object) -> int:
    """Zero-computation (identity) experts beside the routed ones (LongCat-Flash's ``zero_expert_num``), else 0."""
    value = getattr(text_config(config), "zero_expert_num", None)
    return int(value) if is_int(value) else 0


def num_layers(config: object) -> int | None:
    """Decoder layers (``num_hidden_layers`` or its family's spelling; a ``layer_types`` list's length)."""
    text = text_config(config)
    value = _first(text, LAYERS_FIELDS)
    if is_int(value):
        return int(value)
    types = getattr(text, "layer_types", None) or getattr(text, "layers_block_type", None)
    return len(types) if isinstance(types, (list, tuple)) else None


def context_length(config: object) -> int | None:
    """The model's trained context in tokens (``max_position_embeddings`` or its spelling), None if unsaid."""
    try:
        text = text_config(config)
    except TypeError:
        return None
    value = _first(text, CONTEXT_FIELDS)
    return int(value) if is_int(value) and value > 0 else None


_POSITIVE = (
    "hidden_size",
    "vocab_size",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "intermediate_size",
    "moe_intermediate_size",
)


def check_config(config: object) -> object:
    """``config``'s text config, or a ValueError/TypeError naming the first impossible field.

    Checks sizes (positive integers up to ``MAX_SIZE``), the layer count (1..``MAX_LAYERS``), heads (key/value
    heads dividing the query heads), and for MoE configs 1 <= top-k <= experts (+ zero-computation experts).
    An empty ``PretrainedConfig()`` is refused: it names no architecture.
    """
    text = text_config(config)
    if not getattr(text, "model_type", ""):
        raise ValueError(
            f"{type(config).__name__} names no architecture (empty model_type); pass a family's config, e.g. "
            "transformers.AutoConfig.for_model('qwen3_next') or AutoConfig.from_pretrained(path)"
        )
    where = f"{type(text).__name__}"
    if getattr(text, "is_heterogeneous", False):
        raise ValueError(
            f"{type(text).__name__} sets attributes per layer (a heterogeneous config: per_layer_config); the kit's "
            "config readers and cost model take one value per config and do not read per-layer configs yet"
        )
    for name in _POSITIVE:
        value = getattr(text, name, None)
        if value is None:
            continue
        if not is_int(value):
            raise TypeError(f"{where}.{name} must be an integer, got {value!r}")
        if not 1 <= value <= MAX_SIZE:
            raise ValueError(f"{where}.{name}={value} is impossible; it must be in [1, {MAX_SIZE}]")
    layers = num_layers(text)
    if layers is None:
        raise ValueError(f"{where} does not say how many decoder layers it has (num_hidden_layers)")
    if not 1 <= layers <= MAX_LAYERS:
        raise ValueError(
            f"{where} declares {layers} decoder layers; a model has 1 to {MAX_LAYERS} (MAX_LAYERS): fix "
            "num_hidden_layers"
        )
    q, kv = getattr(text, "num_attention_heads", None), getattr(text, "num_key_value_heads", None)
    if is_int(q) and is_int(kv) and q % kv:
        raise ValueError(f"{where}: num_attention_heads={q} is not a multiple of num_key_value_heads={kv}")
    k, experts = top_k(text), num_experts(text)
    if experts is not None and experts < 1:
        raise ValueError(f"{where}: {experts} routed experts is impossible; an MoE layer has at least 1")
    if k is not None and experts is not None:
        routable = experts + zero_experts(text)
        if not 1 <= k <= routable:
            raise ValueError(
                f"{where}: {k} experts per token with {routable} experts to choose from is impossible; "
                f"set num_experts_per_tok in [1, {routable}]"
            )
    return text
