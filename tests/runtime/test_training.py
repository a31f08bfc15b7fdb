"""Training through the "qnext" experts: whole-model gradients (experts, router, attention) equal transformers'
eager experts, also with peft's LoRA on the fused expert weights (``target_parameters``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "trace"))
from moe_models import make_model


def _grads(model: torch.nn.Module, ids: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    model.zero_grad()
    out = model(ids, labels=ids, output_router_logits=True)  # loss includes the router's auxiliary loss
    out.loss.backward()
    return out.loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("family", ["qwen3_moe", "qwen3_next"])
def test_model_gradients_match_eager(family):
    ids = torch.randint(3, 64, (2, 12), generator=torch.Generator().manual_seed(0))
    results = {}
    for impl in ("eager", "qnext"):
        model = make_model(family, implementation=impl).train()
        results[impl] = _grads(model, ids)
    (loss_e, ref), (loss_q, got) = results["eager"], results["qnext"]
    torch.testing.assert_close(loss_q, loss_e, atol=1e-5, rtol=1e-5)
    assert set(got) == set(ref) and any("experts" in n for n in got) and any("mlp.gate" in n for n in got)
    for name in ref:
        torch.testing.assert_close(got[name], ref[name], atol=1e-5, rtol=1e-4, msg=name)


def test_lora_on_fused_experts_trains_through_qnext():
    from peft import LoraConfig, get_peft_model

    ids = torch.randint(3, 64, (2, 12), generator=torch.Generator().manual_seed(1))
    results = {}
    for impl in ("eager", "qnext"):
        base = make_model("qwen3_moe", implementation=impl).train()
        config = LoraConfig(
            r=4,
            lora_alpha=8,
            target_modules=[],
            init_lora_weights=False,
            target_parameters=["mlp.experts.gate_up_proj", "mlp.experts.down_proj"],
        )
        torch.manual_seed(2)  # same random LoRA factors for both implementations
        model = get_peft_model(base, config)
        trainable = [n for n, p in model.named_parameters() if p.requires_grad]
        assert trainable and all("lora" in n for n in trainable)
        results[impl] = _grads(model, ids)
    (loss_e, ref), (loss_q, got) = results["eager"], results["qnext"]
    torch.testing.assert_close(loss_q, loss_e, atol=1e-5, rtol=1e-5)
    assert set(got) == set(ref) and len(got) > 0
    for name in ref:
        torch.testing.assert_close(got[name], ref[name], atol=1e-5, rtol=1e-4, msg=name)
