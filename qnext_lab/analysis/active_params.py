"""Active-parameter accounting: total parameters vs parameters used per token ("80B total, 3B active").

Counts a model's parameters by role (input embedding, output head, routed experts, routers, everything
else: attention / linear attention, norms, shared experts, dense MLPs). Routed experts contribute k/E of
their parameters per token; everything else is used by every token. From a config alone the model is
built on the ``meta`` device, so no weights are read or allocated. With a captured trace, k comes from
the trace (e.g. changed by ``intervene(top_k=...)``) and ``touched`` counts the experts the traced tokens
actually reached (what a batch has to read from memory). Knows nothing about figures.

    active_parameters(transformers.Qwen3NextConfig())   # ~79.7B total, ~3.25B active without embeddings
    active_parameters(model, trace)

A dense model (no experts module) has every parameter active. Zero-computation experts (LongCat-Flash) hold no
weights: with a trace, active counts the distinct experts with weights each token really chose (so it varies per
token, and an expert a hash-routed layer names twice for a token counts once: DeepSeek-V4); from a config, each of
the k slots lands on a real expert with probability routed / (routed + zero).
Embedding tables other than the input embedding (Qwen3.8-Flash-Next's n-gram tables) are their own component,
``embedding tables (host)``: all their rows are stored, a few rows are read per token. ``cost.model_cost`` builds FLOPs, bytes and
memory on these counts.
"""

from __future__ import annotations

import pandas as pd
import torch
from torch import nn

from ..families.config_fields import check_config
from ..families.config_fields import top_k as config_top_k
from ..families.layouts import qsa_off, with_qsa_placeholder
from ..trace.moe_layers import find_moe_layers
from ..trace.routing_trace import RoutingTrace
from ._common import check_trace


def _build_on_meta(config: object) -> nn.Module:
    import transformers

    text = check_config(config)  # impossible sizes, top-k above the experts, 10^5 layers: a ValueError before building
    if qsa_off(text):  # Qwen3.8-Flash-Next with QSA unset: built with a placeholder indexer, which is then dropped
        model = _build_on_meta(with_qsa_placeholder(config))
        for module in model.modules():
            if isinstance(getattr(module, "indexer", None), nn.Module):
                module.indexer = None
        return model
    with torch.device("meta"):
        try:
            try:
                return transformers.AutoModelForCausalLM.from_config(config)
            except ValueError:
                return transformers.AutoModel.from_config(config)
        except Exception as exc:  # transformers' own modeling code failing on this config
            raise ValueError(
                f"transformers cannot build a model from this {type(config).__name__} ({type(exc).__name__}: "
                f"{exc}); the config is incomplete or inconsistent. Use the checkpoint's own config "
                "(AutoConfig.from_pretrained) or set the fields named"
            ) from exc


def _config_top_k(model: nn.Module) -> int | None:
    config = getattr(model, "config", None)
    return config_top_k(config) if config is not None and hasattr(config, "model_type") else None


def _host_tables(model: nn.Module, embed: nn.Module | None) -> list[tuple[nn.Embedding, int]]:
    """Embedding tables besides the input embedding (Qwen3.8-Flash-Next's n-gram "Engram" tables): kept in host
    memory by serving stacks, read a few rows per token. (table, rows read per token) for each."""
    out = []
    for module in model.modules():
        for child in module.children():
            if isinstance(child, nn.Embedding) and child is not embed:
                out.append((child, int(getattr(module, "ngram_heads", 1))))  # one row per n-gram head
    return out


def active_parameters(model_or_config: nn.Module | object, trace: RoutingTrace | None = None) -> pd.DataFrame:
    """One row per component, then ``total`` and ``total (non-embedding)`` rows.

    Columns: component, total, active (per token), touched (parameters the traced tokens used; only with
    a trace), share_active (active / total).
    """
    if isinstance(model_or_config, nn.Module):
        model = model_or_config
    elif hasattr(model_or_config, "to_dict") and hasattr(model_or_config, "model_type"):
        model = _build_on_meta(model_or_config)
    else:
        raise TypeError(f"expected a transformers model or config, got {type(model_or_config).__name__}")
    try:
        layers = find_moe_layers(model)
    except ValueError:
        if trace is not None:
            raise
        layers = []  # a dense model: every parameter is used by every token
    if trace is not None:
        trace = check_trace(trace)
    k_config = _config_top_k(model)

    seen: set[int] = set()

    def count(params) -> int:  # each tensor once (tied embeddings are shared)
        total = 0
        for p in params:
            if id(p) not in seen:
                seen.add(id(p))
                total += p.numel()
        return total

    embed = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    rows = []
    n_embed = count(embed.parameters()) if embed is not None else 0
    rows.append(dict(component="embedding", total=n_embed, active=n_embed, touched=n_embed))
    n_head = count(head.parameters()) if head is not None else 0  # 0 when tied to the embedding
    rows.append(dict(component="lm_head", total=n_head, active=n_head, touched=n_head))
    tables = _host_tables(model, embed)
    n_tables = sum(count(t.parameters()) for t, _ in tables)
    read = sum(min(rows, t.num_embeddings) * t.embedding_dim for t, rows in tables)
    if n_tables:
        rows.append(dict(component="embedding tables (host)", total=n_tables, active=read, touched=read))
    expert_total = expert_active = expert_touched = 0
    for layer in layers:
        n = count(layer.experts.parameters())
        real = layer.num_experts - layer.zero_experts  # zero-computation experts hold no weights
        per_expert = n / real
        k = k_config
        real_per_token = None  # experts with weights chosen per token, on average
        touched = n
        if trace is not None and layer.index in trace.layer_indices:
            ids = trace.topk_ids[trace.layer_indices.index(layer.index)]  # (N, k)
            k = trace.top_k
            chosen = ids[ids < real]
            touched = int(torch.unique(chosen).numel()) * per_expert if chosen.numel() else 0
            if ids.shape[0]:  # distinct experts with weights per token: a hash table may name one expert twice
                ranked = ids.sort(dim=-1).values  # (N, k)
                first = torch.ones_like(ranked, dtype=torch.bool)  # (N, k): not a repeat of the rank before
                first[:, 1:] = ranked[:, 1:] != ranked[:, :-1]
                real_per_token = float((first & (ranked < real)).sum()) / ids.shape[0]
        if k is None:
            raise ValueError("the config has no num_experts_per_tok; pass a trace to know k")
        if real_per_token is None:  # from the config: zero-computation experts drawn as often as any other
            real_per_token = k * real / layer.num_experts
        expert_total += n
        expert_active += real_per_token * per_expert
        expert_touched += touched
    rows.append(
        dict(component="routed experts", total=expert_total, active=round(expert_active), touched=round(expert_touched))
    )
    routers = [layer.router for layer in layers if layer.router is not None]
    n_router = sum(count(r.parameters()) for r in routers)
    rows.append(dict(component="routers", total=n_router, active=n_router, touched=n_router))
    n_other = count(model.parameters())
    rows.append(
        dict(
            component="other (attention, norms, shared experts, dense MLPs)",
            total=n_other,
            active=n_other,
            touched=n_other,
        )
    )
    frame = pd.DataFrame(rows)
    total = frame[["total", "active", "touched"]].sum()
    non_embedding = (
        total
        - frame.loc[
            frame.component.isin(["embedding", "lm_head", "embedding tables (host)"]), ["total", "active", "touched"]
        ].sum()
    )
    frame = pd.concat(
        [
            frame,
            pd.DataFrame(
                [
                    dict(component="total", **total.to_dict()),
                    dict(component="total (non-embedding)", **non_embedding.to_dict()),
                ]
            ),
        ],
        ignore_index=True,
    )
    if trace is None:
        frame = frame.drop(columns="touched")
    frame["share_active"] = frame["active"] / frame["total"].where(frame["total"] > 0)
    return frame
