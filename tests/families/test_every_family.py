"""Every MoE causal-LM family of the installed transformers, each as a tiny random model from its own config class.

The families come from transformers itself (``moe_model_types()``: causal LMs whose modeling builds an experts
module, plus the registered router-only families), not from a hand list, so a new family transformers ships is
tested the day it is installed. For each: ``capture`` equals what an independent forward hook on the router
saw (ids and weights, token by token), ``"qnext"`` equals eager where it runs, and ``active_parameters`` and
``model_cost`` answer. Families that cannot be built tiny are listed in ``docs/families.md``.
"""

from __future__ import annotations

import pytest
import torch
import transformers
from random_moe import moe_config, random_moe
from torch import nn

import qnext_lab as ql
from qnext_lab.analysis.cost import model_cost
from qnext_lab.families.registry import family_for, moe_model_types

MODEL_TYPES = moe_model_types()


def _router_modules(model: nn.Module) -> dict[str, nn.Module]:
    """Routers found by path, independently of the kit: ``.gate`` / ``.router`` of a block that has experts."""
    out = {}
    for path, module in model.named_modules():
        parent = path.rsplit(".", 1)[0] if "." in path else ""
        block = model.get_submodule(parent) if parent else model
        is_block = hasattr(block, "experts") or hasattr(block, "input_linear")
        if path.split(".")[-1] in ("gate", "router") and is_block and "attention" not in path:
            out[path] = module
    return out


def _decode(output: object) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids (T, k), weights (T, k)) from a router's output, read the way each output shape states them."""
    if isinstance(output, tuple) and len(output) == 5:  # JetMoE: slots sorted by expert
        sorted_slots, token_of_slot, gates, expert_size, logits = output
        experts = torch.repeat_interleave(torch.arange(len(expert_size)), torch.as_tensor(expert_size))
        T, k = logits.shape[0], sorted_slots.numel() // logits.shape[0]
        ids = torch.empty(T * k, dtype=torch.long)
        weights = torch.empty(T * k)
        ids[sorted_slots] = experts
        weights[sorted_slots] = gates.float()
        return ids.view(T, k), weights.view(T, k)
    if isinstance(output, tuple) and len(output) == 2:  # Llama 4: (scores with zeros off the chosen, logits)
        scores = output[0].float()
        k = int((scores[0] > 0).sum())
        weights, ids = scores.topk(k, dim=-1)
        return ids, weights
    return output[2], output[1].float()  # (logits, weights, ids) of every experts-interface router


def _by_expert(ids: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    order = ids.long().sort(dim=-1, stable=True)[1]
    return ids.long().gather(-1, order), weights.float().gather(-1, order)


MAX_TINY_PARAMETERS = 12_000_000  # a tiny config that is not tiny (a vision tower's defaults) fails, not swaps


def _tiny_size(model_type: str) -> int:
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(moe_config(model_type))
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_family(model_type):
    family = family_for(model_type)
    if family.untested:
        pytest.skip(f"{model_type}: {family.untested} (docs/families.md)")
    size = _tiny_size(model_type)
    assert size <= MAX_TINY_PARAMETERS, f"{model_type}: tiny config has {size:,} parameters; add `tiny=` overrides"
    model = random_moe(model_type)
    ids = torch.randint(3, 90, (2, 7), generator=torch.Generator().manual_seed(1))
    seen: dict[str, list] = {}
    handles = [
        module.register_forward_hook(lambda m, a, out, p=path: seen.setdefault(p, []).append(_decode(out)))
        for path, module in _router_modules(model).items()
    ]
    try:
        with torch.no_grad(), ql.capture(model) as trace:
            eager = model(input_ids=ids).logits
    finally:
        for h in handles:
            h.remove()
    assert trace.num_tokens == ids.numel() and len(seen) == trace.num_layers, (list(seen), trace.layer_indices)
    for pos, (path, calls) in enumerate(seen.items()):
        want_ids, want_w = _by_expert(*calls[0])
        got_ids, got_w = _by_expert(trace.topk_ids[pos], trace.topk_weights[pos])
        assert torch.equal(got_ids, want_ids), path
        torch.testing.assert_close(got_w, want_w, rtol=1e-5, atol=1e-6, msg=path)
    assert (len(trace.hash_layers) > 0) == family.hash_layers

    if family.qnext is None:
        model.set_experts_implementation("qnext")
        with torch.no_grad():
            fast = model(input_ids=ids).logits
        torch.testing.assert_close(fast, eager, rtol=1e-4, atol=1e-5)

    params = ql.active_parameters(model, trace).set_index("component")
    assert 0 < params.loc["total", "active"] < params.loc["total", "total"]
    if getattr(model.config.get_text_config(), "is_heterogeneous", False):  # refused, see docs/families.md
        with pytest.raises(ValueError, match="per layer"):
            model_cost(model.config, context=64)
        return
    cost = model_cost(model.config, context=64)
    assert 0 < cost.params_active <= cost.params_total and cost.decode_bytes > 0
