"""What the cost model reads from a config, once: sizes, the layer layout and parameter counts by role.

``cost.model_cost`` (FLOPs, bytes, memory) and ``offload_speed.offload_cost`` (decode speed with experts
offloaded) both start from a :class:`ConfigShape`, so the two never count a config two ways. The counts come
from ``active_parameters`` (the model built on the ``meta`` device), the layout from ``families.layouts``; the
one uniform-routing rule both use is :meth:`ConfigShape.reached_share`. Knows nothing about context length,
batch, weight formats or machines.

    shape = config_shape(transformers.Qwen3NextConfig())
    shape.num_experts, shape.moe_layers, shape.reached_share(8)

Dimension legend: E = routed experts per MoE layer, k = experts per token, b = tokens in one decode step.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..families.config_fields import check_config, num_experts, top_k
from ..families.layouts import StackLayout, stack_layout
from .active_params import active_parameters

__all__ = ["ConfigShape", "config_shape"]


@dataclass(frozen=True)
class ConfigShape:
    """What the counting needs from a config, parameter counts included (no context or batch yet)."""

    name: str
    vocab: int
    hidden: int
    layout: StackLayout  # per-layer kinds and the attention / state shapes (families.layouts)
    params_total: int  # all parameters (embedding and head included, tied ones once; host tables excluded)
    params_embedding: int  # input embedding (read one row per token, no FLOPs)
    params_head: int  # output head as a matmul (vocab x hidden, also when tied)
    params_dense: int  # non-embedding, non-head parameters every token uses (attention, norms, shared experts...)
    params_experts: int  # routed experts, all layers
    params_experts_active: float  # routed expert parameters one token uses (k of E; zero-computation aware)
    params_host: int  # embedding tables kept in host memory (n-gram tables)
    params_host_active: int  # their elements one token reads
    num_experts: int  # E (0 for dense)
    top_k: int  # k (0 for dense)
    expert_width: int = 0  # I, the intermediate size of one routed expert (0 for dense)
    tied: bool = False  # the output head is the input embedding

    def reached_share(self, batch: int) -> float:
        """The share of the routed experts a decode step of ``batch`` tokens reaches under uniform routing:
        1 - (1 - k/E)^b (b = 1: k/E), k/E counted on parameters (zero-computation experts hold none)."""
        if not self.params_experts:
            return 0.0
        return 1 - (1 - self.params_experts_active / self.params_experts) ** batch

    @property
    def moe_layers(self) -> int:
        """MoE layers: the routed-expert parameters over one layer's E experts of 3 * H * I weights each."""
        if not (self.num_experts and self.expert_width):
            return 0
        return round(self.params_experts / (self.num_experts * 3 * self.hidden * self.expert_width))


def config_shape(config: object, name: str | None = None) -> ConfigShape:
    """``config``'s :class:`ConfigShape` (``name``: default the config's ``model_type``). ValueError for a config
    transformers could not build (``check_config``), before any model is built."""
    text = check_config(config)
    layout = stack_layout(text)  # before building: a layout it cannot read says which fields to set
    hidden, vocab = int(text.hidden_size), int(text.vocab_size)
    params = active_parameters(config).set_index("component")
    experts = int(params.loc["routed experts", "total"])
    host = int(params.loc["embedding tables (host)", "total"]) if "embedding tables (host)" in params.index else 0
    width = getattr(text, "moe_intermediate_size", None) or getattr(text, "intermediate_size", 0)
    return ConfigShape(
        name=name or getattr(text, "model_type", type(text).__name__),
        vocab=vocab,
        hidden=hidden,
        layout=layout,
        params_total=int(params.loc["total", "total"]) - host,
        params_embedding=int(params.loc["embedding", "total"]),
        params_head=vocab * hidden,
        params_dense=int(params.loc["total (non-embedding)", "total"]) - experts,
        params_experts=experts,
        params_experts_active=float(params.loc["routed experts", "active"]),
        params_host=host,
        params_host_active=int(params.loc["embedding tables (host)", "active"]) if host else 0,
        num_experts=(num_experts(text) or 0) if experts else 0,
        top_k=(top_k(text) or 0) if experts else 0,
        expert_width=int(width or 0) if experts else 0,
        tied=bool(getattr(text, "tie_word_embeddings", False)),
    )
