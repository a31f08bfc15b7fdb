"""Selection scores: capture records what a biased router's top-k really compared (DeepSeek-V3 and its kin).

Every registered family whose rule chooses with a selection-only bias (``families.rules``: ``selection_bias``)
and whose probabilities capture knows is built tiny and random (``random_moe``), with a non-zero random
``e_score_correction_bias`` so that the choice really differs from the top-k of the probabilities. The
recorded ``selection_scores`` must equal an independent forward hook's computation (the router's own logits
-> the family's scores + the bias it was given), their (group-limited) top-k must be the recorded experts, and
for some token that choice must differ from the top-k of ``probs`` (else the test could not fail).
"""

from __future__ import annotations

import dataclasses
import gc

import pytest
import torch
from random_moe import random_moe
from torch import nn

import qnext_lab
from qnext_lab.families.registry import FAMILIES, family_for

BIASED = sorted(
    f.model_type
    for f in FAMILIES.values()
    if f.rule.selection_bias and f.rule.probs_kind is not None and f.untested is None and not f.hash_layers
)
SCORES = {"sigmoid": torch.sigmoid, "softmax": lambda x: torch.softmax(x, -1)}


def _bias_owners(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(getattr(m, "e_score_correction_bias", None), torch.Tensor)]


def _routers(model: nn.Module) -> list[nn.Module]:
    """Each MoE block's router: the module that takes the hidden states and returns (logits, weights, ids)."""
    found = []
    for m in model.modules():
        for name in ("gate", "router"):
            r = getattr(m, name, None)
            if isinstance(r, nn.Module) and not isinstance(r, nn.Linear) and hasattr(r, "top_k"):
                found.append(r)
    return found


def _group_top_k(scores: torch.Tensor, router: nn.Module, k: int) -> torch.Tensor:
    """(T, E) biased scores -> (T, k) sorted ids, within the router's best ``topk_group`` of ``num_group`` groups."""
    T, E = scores.shape
    groups = int(getattr(router, "num_group", None) or getattr(router, "n_group", None) or 1)
    best = int(getattr(router, "topk_group", None) or groups)
    per_group = scores.view(T, groups, E // groups)
    group_scores = per_group.topk(min(2, E // groups), dim=-1)[0].sum(-1)  # (T, G)
    keep = torch.zeros(T, groups, dtype=torch.bool).scatter_(1, group_scores.topk(best, dim=-1)[1], True)
    limited = per_group.masked_fill(~keep[:, :, None], float("-inf")).reshape(T, E)
    return limited.topk(k, dim=-1)[1].sort(-1)[0]


@pytest.mark.parametrize("model_type", BIASED)
def test_selection_scores_are_what_the_biased_top_k_compared(model_type):
    model = random_moe(model_type)
    owners = _bias_owners(model)
    assert owners, f"{model_type}: no e_score_correction_bias found"
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in owners:  # a bias that changes the choice: scores differ by ~0.1-0.5 between experts
            b = m.e_score_correction_bias
            b.copy_(torch.randn(b.shape, generator=g) * 0.5)
    kind = family_for(model_type).rule.probs_kind
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []  # per router call: (selection scores (T, E), router)

    def hook(router, args, output):
        logits = output[0].reshape(-1, output[0].shape[-1]).float()  # the router's own logits (T, E)
        bias = getattr(router, "e_score_correction_bias", None)
        bias = args[1] if bias is None else bias  # MiniMax-M2 passes its block's bias as an argument
        seen.append((SCORES[kind](logits) + bias.float(), router))

    routers = _routers(model)
    assert routers, f"{model_type}: no router found"
    handles = [r.register_forward_hook(hook) for r in routers]
    ids = torch.randint(3, 90, (2, 9), generator=g)
    try:
        with torch.no_grad(), qnext_lab.capture(model, probs=True) as trace:
            model(input_ids=ids)
    finally:
        for h in handles:
            h.remove()
    assert trace.selection_scores is not None and trace.probs is not None
    L, N, E = trace.probs.shape
    assert trace.selection_scores.shape == (L, N, E) and N == ids.numel() and len(seen) == L
    differs = 0
    for pos in range(L):
        expected, router = seen[pos]
        torch.testing.assert_close(trace.selection_scores[pos], expected, rtol=0, atol=1e-6)
        chosen = trace.topk_ids[pos].long().sort(-1)[0]  # (N, k) as sets
        assert torch.equal(_group_top_k(trace.selection_scores[pos], router, trace.top_k), chosen), pos
        by_probs = trace.probs[pos].topk(trace.top_k, dim=-1)[1].sort(-1)[0]
        differs += int((by_probs != chosen).any(-1).sum())
    assert differs > 0, "the bias never changed a choice: the test could not tell scores from probabilities"
    # a layer view, a token view and a file keep them
    first = trace.layer_indices[0]
    assert torch.equal(trace.layer(first).selection_scores[0], trace.selection_scores[0])
    assert torch.equal(trace.select(mask=torch.arange(N) % 2 == 0).selection_scores, trace.selection_scores[:, ::2])
    seen.clear()
    del model, trace, routers, owners
    gc.collect()


def test_only_biased_routers_get_selection_scores(tmp_path):
    model = random_moe("qwen3_moe")  # softmax top-k: the choice is the top-k of probs, nothing more to keep
    with torch.no_grad(), qnext_lab.capture(model, probs=True) as trace:
        model(input_ids=torch.arange(3, 9)[None])
    assert trace.probs is not None and trace.selection_scores is None
    assert "selection_scores" not in repr(trace)
    del model
    gc.collect()
    model = random_moe("glm4_moe")
    with torch.no_grad(), qnext_lab.capture(model) as without:  # probs=False: neither (E floats per token)
        model(input_ids=torch.arange(3, 9)[None])
    assert without.probs is None and without.selection_scores is None
    with torch.no_grad(), qnext_lab.capture(model, probs=True) as empty:  # nothing ran: empty, but the same fields
        pass
    assert empty.selection_scores is not None and empty.selection_scores.shape == (empty.num_layers, 0, 8)
    with torch.no_grad(), qnext_lab.capture(model, probs=True) as trace:
        model(input_ids=torch.arange(3, 9)[None])
    path = tmp_path / "t.safetensors"
    digests = trace.save(path)
    back = qnext_lab.RoutingTrace.load(path, digests=digests)
    assert torch.equal(back.selection_scores, trace.selection_scores)
    last = trace.layer_indices[-1]
    one = qnext_lab.RoutingTrace.load(path, layers=[last], digests=digests)
    assert torch.equal(one.selection_scores[0], trace.selection_scores[-1])
    both = qnext_lab.RoutingTrace.concat([trace, back])
    assert torch.equal(both.selection_scores, torch.cat([trace.selection_scores] * 2, 1))
    with pytest.raises(ValueError, match="selection_scores"):
        qnext_lab.RoutingTrace.concat([trace, dataclasses.replace(trace, selection_scores=None)])
    del model
    gc.collect()
