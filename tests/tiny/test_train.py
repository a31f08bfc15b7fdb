"""Training smoke test: a few steps of a tiny config lower the loss and write a loadable checkpoint."""

from __future__ import annotations

import json

import torch
from transformers import AutoModelForCausalLM, GenerationConfig

from qnext_lab.tiny.model import TinyArch, tiny_config
from qnext_lab.tiny.paths import STOP_TEXT
from qnext_lab.tiny.train import TrainConfig, load_balancing_loss, train

SMALL = TinyArch(hidden_size=32, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                 linear_num_key_heads=1, linear_num_value_heads=2, linear_key_head_dim=16,
                 linear_value_head_dim=16, num_experts=8, num_experts_per_tok=2,
                 moe_intermediate_size=16, shared_expert_intermediate_size=32)


def test_a_few_steps_lower_the_loss_and_save_a_plain_checkpoint(tmp_path):
    cfg = TrainConfig(steps=30, batch_size=8, lr=1e-2, warmup_steps=3, log_every=1, out=str(tmp_path),
                      checkpoint_at=(0.5,), experts_implementation="eager")
    log = train(cfg, arch=SMALL)
    ce = [s["ce"] for s in log["steps"]]
    assert sum(ce[-5:]) / 5 < ce[0] - 1.0, ce
    model = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert type(model).__name__ == "Qwen3NextForCausalLM"
    assert model.config.layer_types == ["linear_attention"] * 3 + ["full_attention"]
    assert GenerationConfig.from_pretrained(tmp_path).thinking_stop_text == STOP_TEXT
    assert model.generation_config.thinking_stop_text == STOP_TEXT
    assert json.loads((tmp_path / "training_log.json").read_text())["total_steps"] == 30
    (ckpt,) = (tmp_path / "checkpoints").iterdir()
    assert AutoModelForCausalLM.from_pretrained(ckpt).config.num_experts == 8


def test_load_balancing_loss_is_one_when_balanced_and_larger_when_collapsed():
    E, k, N = 8, 2, 64
    real = torch.ones(N, dtype=torch.bool)
    balanced = torch.zeros(N, E)
    balanced[torch.arange(N), torch.arange(N) % E] = 5.0
    balanced[torch.arange(N), (torch.arange(N) + 1) % E] = 5.0
    collapsed = torch.zeros(N, E)
    collapsed[:, :2] = 5.0
    lb, lc = load_balancing_loss((balanced,), real, k), load_balancing_loss((collapsed,), real, k)
    assert abs(lb.item() - 1.0) < 0.05 and lc.item() > 3.0


def test_config_keeps_qwen3_next_character():
    cfg = tiny_config(100)
    assert cfg.layer_types == ["linear_attention"] * 3 + ["full_attention"]
    assert cfg.num_experts_per_tok > 1 and cfg.norm_topk_prob and cfg.shared_expert_intermediate_size > 0
