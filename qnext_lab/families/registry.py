"""The family registry: what the kit knows about each MoE family transformers ships, in one place.

One ``Family`` per transformers ``model_type``: how its router chooses and weighs experts (a ``RouterRule``),
where routing is read (the experts module's inputs, or the router's output where the experts module does not
receive the real choice), hash-routed layers and zero-computation experts, the shared expert and its gate, the
experts' weight layout and gate, whether the ``"qnext"`` experts implementation can run it, and the config
overrides that make a tiny random model of it (4 layers, 8 experts, top-2: what the tests build). A family
transformers ships that has no entry here still gets an exact capture of ids and weights (its experts module
sees them); only what needs the router's arithmetic (``probs=True``, ``intervene``) is refused by name.

Capture (``trace.moe_layers``, ``trace.capturing``), ``intervene``, the runtime's gate test, the cost model and
``active_parameters`` read this module; ``moe_model_types()`` enumerates the installed transformers' MoE
causal-LM families for the tests and the README table (``families_markdown``). Adding a family is one entry.
Knows nothing about hooks, traces or figures.

    family_for("deepseek_v4").hash_layers        # True
    family_of_model(model).rule.probs_kind        # "softmax"
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

import torch
from torch import nn

from .rules import RULES, RouterRule

__all__ = [
    "FAMILIES",
    "Family",
    "family_for",
    "family_of_model",
    "family_of_module",
    "families_markdown",
    "moe_model_types",
    "read_router_output",
    "readme_with_families",
    "tiny_config",
]


@dataclass(frozen=True)
class Family:
    """What the kit knows about one transformers MoE family (see the module docstring)."""

    model_type: str  # transformers model_type of the text model (the causal LM)
    name: str  # display name
    rule: RouterRule
    capture: str = "experts"  # "experts": the experts module's (ids, weights); "router": the router's output
    router_classes: tuple[str, ...] = ()  # capture="router": router classes to hook (others are ignored)
    router_path: str = ""  # capture="router": the router's path ends with this (e.g. "mlp.router")
    hash_layers: bool = False  # some layers route by a token-id table (tid2eid): an expert may repeat
    zero_experts_field: str | None = None  # config field counting zero-computation (identity) experts
    shared_expert: str | None = None  # attribute of the MoE block holding the shared expert(s)
    shared_gate: str | None = None  # attribute holding the shared expert's sigmoid gate
    experts_layout: str = "gate_up (E, 2I, H) concatenated, down (E, H, I)"
    experts_gate: str = "silu"  # "silu", "clamped_swiglu" (GPT-OSS), "custom" (own _apply_gate), "none"
    qnext: str | None = None  # None: "qnext" runs it; else why it cannot
    tiny: dict = field(default_factory=dict)  # config overrides for a tiny random model (on top of TINY)
    untested: str | None = None  # why the all-families test cannot build it tiny (None: it can)
    notes: str = ""


_SHARED = dict(shared_expert="shared_expert", shared_gate="shared_expert_gate")
GENERIC = RULES["unknown"]  # no rule written down: exact ids and weights only
_HYBRID = ["linear_attention", "full_attention"] * 2  # 4 tiny layers with both kinds
_MLP = ["dense", "sparse", "sparse", "sparse"]
_GROUPED = dict(rule=RULES["sigmoid_biased_grouped"], shared_expert="shared_experts")  # DeepSeek-V3's MoE block
_MLA = dict(
    kv_lora_rank=8,
    q_lora_rank=16,
    qk_rope_head_dim=4,
    qk_nope_head_dim=8,
    v_head_dim=8,
    head_dim=4,
    num_key_value_heads=4,
)
_HYBRID_MLP = dict(layer_types=_HYBRID, mlp_layer_types=_MLP, num_key_value_heads=4)


def _mla(groups: int, **more: object) -> dict:
    """Tiny sizes of a multi-head latent attention model whose router picks from ``groups`` expert groups."""
    return dict(_MLA, n_group=groups, topk_group=1, **more)


FAMILIES: dict[str, Family] = {
    f.model_type: f
    for f in (
        Family("qwen2_moe", "Qwen2-MoE", RULES["softmax"], **_SHARED),
        Family("qwen3_moe", "Qwen3-MoE", RULES["softmax"]),
        Family("qwen3_vl_moe_text", "Qwen3-VL-MoE", RULES["softmax"]),
        Family("qwen3_omni_moe", "Qwen3-Omni-MoE", RULES["softmax"]),
        Family("qwen3_next", "Qwen3-Next", RULES["softmax"], **_SHARED),
        Family("qwen3_5_moe_text", "Qwen3.5 / 3.6", RULES["softmax"], **_SHARED),
        Family(
            "qwen4_exp_text",
            "Qwen3.8-Flash-Next",
            RULES["softmax"],
            **_SHARED,
            tiny=dict(
                hc_lowrank=4,
                heads_per_ngram=2,
                ngram_vocab_size_base=256,
                split_ngram_parts=2,
                ple_layer_ids=[2],
                eos_token_id=1,
                ple_embed_dim=16,
                indexer_n_heads=2,
                indexer_kv_heads=1,
                indexer_head_dim=8,
                indexer_budget=8,
                indexer_compress_ratio=2,
            ),
            notes="QSA indexed attention, hyper-connection streams, n-gram embedding table",
        ),
        Family("mixtral", "Mixtral", RULES["softmax_renormalised"]),
        Family("olmoe", "OLMoE", RULES["softmax"]),
        Family("flex_olmo", "FlexOlmo", RULES["softmax"], tiny=dict(pad_token_id=0)),
        Family(
            "gpt_oss",
            "gpt-oss",
            RULES["softmax_renormalised"],
            experts_layout="gate_up (E, H, 2I) interleaved + bias, down (E, I, H) + bias",
            experts_gate="clamped_swiglu",
        ),
        Family(
            "deepseek_v3",
            "DeepSeek-V3",
            **_GROUPED,
            tiny=_mla(2),
        ),
        Family(
            "deepseek_v32",
            "DeepSeek-V3.2",
            **_GROUPED,
            tiny=_mla(2),
            notes="DSA indexed attention",
        ),
        Family(
            "deepseek_v4",
            "DeepSeek-V4",
            RULES["scored_biased_scaled"],
            hash_layers=True,
            shared_expert="shared_experts",
            experts_gate="custom",
            notes="hash-routed early layers, compressed sparse attention, hyper-connections",
        ),
        Family(
            "glm4_moe",
            "GLM-4.5 / 4.6",
            **_GROUPED,
            tiny=dict(n_group=1, topk_group=1),
        ),
        Family(
            "glm_moe_dsa",
            "GLM-5 (DSA)",
            **_GROUPED,
            tiny=_mla(1),
            notes="DSA indexed attention",
        ),
        Family(
            "kimi_linear",
            "Kimi Linear",
            **_GROUPED,
            tiny=dict(_HYBRID_MLP, pad_token_id=0),
        ),
        Family("minimax_m2", "MiniMax-M2", RULES["sigmoid_biased"]),
        Family(
            "longcat_flash",
            "LongCat-Flash",
            RULES["softmax_biased_scaled"],
            capture="router",
            router_classes=("LongcatFlashTopkRouter",),
            router_path="mlp.router",
            zero_experts_field="zero_expert_num",
            tiny=dict(**_MLA, zero_expert_num=2),
            notes="zero-computation experts: ids >= the routed experts pass the token through unchanged",
        ),
        Family(
            "llama4_text",
            "Llama 4",
            RULES["sigmoid_of_chosen_logits"],
            capture="router",
            router_classes=("Llama4Router",),
            router_path="feed_forward.router",
            shared_expert="shared_expert",
            experts_layout="gate_up (E, H, 2I), down (E, I, H), tokens pre-sorted per expert (bmm)",
            qnext="its experts module is not a transformers experts-interface module (Llama4TextExperts "
            "multiplies pre-scaled, pre-sorted rows with bmm)",
        ),
        Family(
            "jetmoe",
            "JetMoE",
            RULES["softmax_renormalised"],
            capture="router",
            router_classes=("JetMoeTopKGating",),
            router_path="mlp.router",
            experts_layout="JetMoeParallelExperts: input_linear (E, 2I, H), output_linear (E, H, I)",
            qnext="its experts (JetMoeParallelExperts) take tokens pre-sorted by expert, not the "
            "experts-interface call; attention experts (MoA) are routed too but not captured",
        ),
        Family("nemotron_h", "Nemotron-H", **_GROUPED),
        Family(
            "jamba",
            "Jamba",
            RULES["softmax_renormalised"],
            tiny=dict(attn_layer_period=2, attn_layer_offset=1, expert_layer_period=2, expert_layer_offset=1),
        ),
        Family(
            "lfm2_moe",
            "LFM2-MoE",
            RULES["unknown"],
            tiny=dict(layer_types=["conv", "full_attention", "conv", "full_attention"], num_dense_layers=1),
            notes="short-convolution layers; transformers' default config has no layer_types (set them)",
        ),
        Family("exaone_moe", "EXAONE-MoE", **_GROUPED),
        Family("mimo_v2_flash", "MiMo-V2-Flash", RULES["sigmoid_biased_grouped"]),
        # Entries that only give test sizes (no router rule written down yet: ids and weights are captured)
        Family("deepseek_v2", "DeepSeek-V2", GENERIC, tiny=_mla(2)),
        Family("glm4_moe_lite", "GLM-4.7-Flash", GENERIC, tiny=_mla(1)),
        Family("axk1", "A.X K1", GENERIC, tiny=_mla(2)),
        Family("axk2", "A.X K2", GENERIC, tiny=_mla(2)),
        Family(
            "bailing_hybrid",
            "Ling / Ring hybrid",
            GENERIC,
            tiny=dict(_HYBRID_MLP, pad_token_id=0, n_group=1, topk_group=1),
        ),
        Family("beam", "Beam", GENERIC, tiny=dict(n_group=1, topk_group=1)),
        Family("dots1", "dots.llm1", GENERIC, tiny=dict(n_shared_experts=1, n_group=1, topk_group=1)),
        Family("hy_v4", "Hunyuan v4", GENERIC, tiny=_mla(1, pad_token_id=0)),
        Family(
            "granitemoehybrid",
            "Granite 4 hybrid",
            GENERIC,
            tiny=dict(
                mamba_n_heads=4,
                mamba_d_head=16,
                mamba_d_state=8,
                mamba_n_groups=1,
                mamba_chunk_size=16,
                layer_types=_HYBRID,
            ),
        ),
        Family("kolibri1_1", "Kolibri 1.1", GENERIC, tiny=dict(head_dim=16, index_num_heads=2)),
        Family("zaya", "ZAYA", GENERIC, tiny=dict(num_experts_per_tok=1)),
        Family(
            "dots3_note_text",
            "dots.note 3",
            GENERIC,
            untested="its per-layer (heterogeneous) config keeps ~79M parameters under the tiny sizes; no small "
            "config found yet",
        ),
        Family(
            "gemma4_text",
            "Gemma 4 (MoE block)",
            GENERIC,
            tiny=dict(
                enable_moe_block=True,
                top_k_experts=2,
                vocab_size_per_layer_input=96,
                hidden_size_per_layer_input=8,
                global_head_dim=8,
                num_global_key_value_heads=2,
            ),
            notes="MoE only with enable_moe_block=True",
        ),
    )
}

TINY = dict(
    hidden_size=32,
    intermediate_size=48,
    moe_intermediate_size=16,
    shared_expert_intermediate_size=16,
    expert_ffn_hidden_size=16,
    ffn_hidden_size=48,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=8,
    num_hidden_layers=4,
    vocab_size=96,
    max_position_embeddings=128,
    num_experts=8,
    num_local_experts=8,
    n_routed_experts=8,
    num_experts_per_tok=2,
    num_experts_per_token=2,
    moe_topk=2,
    linear_num_key_heads=2,
    linear_num_value_heads=2,
    linear_key_head_dim=8,
    linear_value_head_dim=8,
    sliding_window=16,
    attention_chunk_size=16,
    index_topk=8,
    index_n_heads=2,
    index_head_dim=8,
)
"""Sizes of a tiny random model of any family (4 layers, 8 experts, top-2); a field is set only where the
family's config has it, then the entry's ``tiny`` overrides apply."""


def _has(config: object, name: str) -> bool:
    try:
        return hasattr(config, name)
    except RuntimeError:  # a per-layer attribute of a heterogeneous config, read globally
        return True


def tiny_config(model_type: str, **overrides: object) -> object:
    """A tiny config of ``model_type`` built from the family's own config class (``TINY`` + entry + overrides)."""
    from transformers import AutoConfig

    base = AutoConfig.for_model(model_type)
    known = set(base.to_dict()) | {k for k in TINY if _has(base, k)}
    sizes = {k: v for k, v in TINY.items() if k in known}
    return AutoConfig.for_model(model_type, **{**sizes, **family_for(model_type).tiny, **overrides})


def _registered(model_type: str) -> Family | None:
    """The entry of ``model_type`` or of its text model (``qwen3_vl_moe`` -> ``qwen3_vl_moe_text``), if any."""
    return FAMILIES.get(model_type) or FAMILIES.get(f"{model_type}_text")


def family_for(model_type: str) -> Family:
    """The registry entry of ``model_type``, or a generic entry (exact ids/weights capture, no router rule)."""
    if not isinstance(model_type, str):
        raise TypeError(f"model_type must be a str such as 'qwen3_next', got {type(model_type).__name__}")
    return _registered(model_type) or Family(model_type, model_type, GENERIC)


def _model_types(config: object) -> list[str]:
    types = [getattr(config, "model_type", None)]
    if hasattr(config, "get_text_config"):
        try:
            types.append(getattr(config.get_text_config(), "model_type", None))
        except (AttributeError, ValueError):
            pass
    return [t for t in types if isinstance(t, str) and t]


def family_of_model(model_or_config: object) -> Family:
    """The family of a transformers model or config (the text model's entry when both exist)."""
    config = getattr(model_or_config, "config", model_or_config)
    types = _model_types(config)
    for t in reversed(types):  # the text model's own entry first
        if _registered(t) is not None:
            return family_for(t)
    return family_for(types[-1] if types else type(model_or_config).__name__)


_MODULE_RE = re.compile(r"^transformers\.models\.([^.]+)\.")


def family_of_module(module: nn.Module) -> Family | None:
    """The family whose transformers modeling file defines ``module``'s class (None for other modules)."""
    match = _MODULE_RE.match(type(module).__module__)
    return None if match is None else family_for(match.group(1))


@functools.cache
def moe_model_types() -> tuple[str, ...]:
    """Every causal-LM ``model_type`` of the installed transformers whose modeling builds an MoE layer.

    A multimodal wrapper whose text model is a causal LM of its own is listed once, as that text model.
    An MoE layer is an experts module (``@use_experts_implementation``) or a family registered here with a
    router of its own (``capture="router"``). Read from the sources of transformers' modeling files, so
    nothing is imported or built.
    """
    from importlib.util import find_spec
    from pathlib import Path

    from transformers import CONFIG_MAPPING
    from transformers.models.auto.configuration_auto import model_type_to_module_name
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    root = Path(find_spec("transformers").submodule_search_locations[0]) / "models"
    found = []
    for model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        text = (getattr(CONFIG_MAPPING[model_type], "sub_configs", None) or {}).get("text_config")
        if getattr(text, "model_type", None) in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
            continue  # a multimodal wrapper: its text model is listed itself (and is what routes)
        folder = root / model_type_to_module_name(model_type)
        source = "".join(p.read_text() for p in sorted(folder.glob("modeling_*.py")))
        if "@use_experts_implementation" in source or family_for(model_type).capture == "router":
            found.append(model_type)
    return tuple(found)


def families_markdown() -> str:
    """The README's family table: one row per registered family, then the other MoE families transformers ships."""
    rows = [
        "| family | `model_type` | selection rule | routing read from | notes |",
        "| --- | --- | --- | --- | --- |",
    ]
    for f in sorted(FAMILIES.values(), key=lambda f: f.name.lower()):
        source = "experts module" if f.capture == "experts" else "router output"
        notes = [n for n in (f.notes, f"no `qnext`: {f.qnext}" if f.qnext else "") if n]
        rule = f.rule.describe() if f.rule is not GENERIC else "not described: ids and weights only"
        rows.append(f"| {f.name} | `{f.model_type}` | {rule} | {source} | {'; '.join(notes)} |")
    others = [t for t in moe_model_types() if _registered(t) is None]
    rows.append("")
    rows.append(
        f"Also captured (ids and combine weights, read from the experts module; `probs=True` and `intervene` need a "
        f"registered rule): {', '.join(f'`{t}`' for t in others)}."
    )
    return "\n".join(rows) + "\n"


README_START = "<!-- families: generated by `python -m qnext_lab.families README.md`; do not edit -->"
README_END = "<!-- /families -->"


def readme_with_families(text: str) -> str:
    """``text`` (the README) with the block between the family markers replaced by ``families_markdown()``."""
    if README_START not in text or README_END not in text:
        raise ValueError(f"the README has no family block ({README_START!r} ... {README_END!r})")
    head, rest = text.split(README_START, 1)
    tail = rest.split(README_END, 1)[1]
    return f"{head}{README_START}\n{families_markdown()}{README_END}{tail}"


def read_router_output(
    family: Family, router: nn.Module, output: object
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(logits (T, E), ids (T, k), weights (T, k)) a router of a ``capture="router"`` family chose.

    Llama 4: ``(scores (T, E), logits (T, E))``, the chosen are the top-k logits and their weight is the sigmoid
    score. JetMoE: ``(..., logits (T, E))``, top-k of the logits, softmax over the chosen. LongCat-Flash:
    ``(logits, weights (T, k), ids (T, k))`` before its MoE block remaps zero-computation experts.
    """
    k = int(router.top_k)
    if family.model_type == "llama4_text":
        scores, logits = output[0], output[1]
        ids = torch.topk(logits, k, dim=-1)[1]  # the router's own call: same ids, same order
        return logits, ids, scores.gather(-1, ids)
    if family.model_type == "jetmoe":
        logits = output[-1]
        top, ids = logits.topk(k, dim=1)
        return logits, ids, torch.softmax(top.float(), dim=1)
    return output[0], output[2], output[1]
