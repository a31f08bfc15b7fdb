"""How a router chooses its experts and weighs them: the selection rules MoE families use, one object each.

A rule says what the router's scores are (softmax or sigmoid of its logits), what chooses the top-k (the
scores, the scores plus a bias used for the choice only, the raw logits, or a fixed token -> experts table),
how the chosen experts' combine weights are made (renormalised over the k or not, multiplied by a routed
scaling factor), whether the choice is limited to the best expert groups, and where the weight is applied
(on the expert's output, or on its input as Llama 4 does). ``families.registry`` names one rule per family;
capture reads ``probs_kind`` to turn logits into probabilities, ``intervene`` re-chooses with ``recompute``.
Knows nothing about models, hooks or traces.

    rule = RULES["sigmoid_biased_grouped"]
    rule.probs_kind          # "sigmoid"
    rule.describe()          # one line for the docs and the README table

Dimension legend: T = tokens, E = experts, k = experts per token.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RULES", "RouterRule"]


@dataclass(frozen=True)
class RouterRule:
    """One selection rule. Fields are facts about the router's arithmetic, read by capture and intervene."""

    name: str
    scores: str  # "softmax" | "sigmoid" | "sqrtsoftplus" | "logits": what the top-k compares before any bias
    selection_bias: bool = False  # e_score_correction_bias added to the scores for the choice only
    weights: str = "scores"  # "scores": chosen scores; "sigmoid_of_chosen": sigmoid of the k chosen logits
    normalise: str = "config"  # "config" (router/config norm_topk_prob, default True), "always", "never"
    scaling: bool = False  # weights multiplied by routed_scaling_factor
    group_limited: bool = False  # DeepSeek-V3 n_group / topk_group: experts of the best groups only
    weight_on_input: bool = False  # Llama 4 scales each expert's input, not its output
    recompute: bool = False  # intervene() knows how to redo the choice and the weights

    @property
    def probs_kind(self) -> str | None:
        """How ``capture(probs=True)`` turns the router's logits into a distribution over experts (None: unknown)."""
        if self.name == "unknown":
            return None
        # Llama 4's weights are sigmoids of its logits; sqrt(softplus) scores (DeepSeek-V4) are no distribution
        return {"softmax": "softmax", "sigmoid": "sigmoid", "logits": "sigmoid"}.get(self.scores)

    def describe(self) -> str:
        """One line: ``sigmoid scores + selection-only bias, top-k in best groups, renormalised x scale``."""
        choice = {
            "softmax": "softmax scores",
            "sigmoid": "sigmoid scores",
            "sqrtsoftplus": "sqrt(softplus) scores",
            "logits": "logits",
        }[self.scores]
        parts = [choice + (" + selection-only bias" if self.selection_bias else "")]
        parts.append("top-k within the best groups" if self.group_limited else "top-k")
        weight = "sigmoid of the chosen logits" if self.weights == "sigmoid_of_chosen" else "chosen scores"
        if self.normalise == "always":
            weight += ", renormalised"
        elif self.normalise == "config":
            weight += ", renormalised if norm_topk_prob"
        if self.scaling:
            weight += " x routed_scaling_factor"
        parts.append(("input weight: " if self.weight_on_input else "weight: ") + weight)
        return "; ".join(parts)


RULES: dict[str, RouterRule] = {
    rule.name: rule
    for rule in (
        # Qwen2/3-MoE, Qwen3-Next, Qwen3.5, OLMoE: softmax over all experts, top-k, optional renormalisation
        RouterRule("softmax", "softmax", recompute=True),
        # Mixtral, GPT-OSS, JetMoE: top-k of the logits, softmax over the k chosen (= the renormalised softmax)
        RouterRule("softmax_renormalised", "softmax", normalise="always", recompute=True),
        # DeepSeek-V3, GLM-4-MoE, Kimi Linear, MiMo-V2, ...: sigmoid, bias for the choice, groups, scaling
        RouterRule(
            "sigmoid_biased_grouped",
            "sigmoid",
            selection_bias=True,
            scaling=True,
            group_limited=True,
            recompute=True,
        ),
        # MiniMax-M2 and routers like it: sigmoid with a selection bias, no groups
        RouterRule("sigmoid_biased", "sigmoid", selection_bias=True, normalise="always"),
        # DeepSeek-V4 (config scoring_func, default sqrt(softplus)): bias for the choice, renormalised, scaled; its
        # hash layers (families.registry: hash_layers) take the experts from a token-id table instead
        RouterRule("scored_biased_scaled", "sqrtsoftplus", selection_bias=True, normalise="always", scaling=True),
        # LongCat-Flash: softmax over routed + zero-computation experts, bias for the choice, scaled
        RouterRule("softmax_biased_scaled", "softmax", selection_bias=True, normalise="never", scaling=True),
        # Llama 4: top-k of the logits, sigmoid of each chosen logit scales the expert's input
        RouterRule(
            "sigmoid_of_chosen_logits", "logits", weights="sigmoid_of_chosen", normalise="never", weight_on_input=True
        ),
        # anything else: the experts module's (ids, weights) are still captured exactly; probs are not known
        RouterRule("unknown", "softmax"),
    )
}
