"""Training smoke test: a few steps of a tiny config lower the loss and write a loadable checkpoint."""

from __future__ import annotations

import json

import torch
from transformers import AutoModelForCausalLM, GenerationConfig, Qwen3NextForCausalLM

from qnext_lab.tiny.model import TinyArch, tiny_config
from qnext_lab.tiny.paths import STOP_TEXT
from qnext_lab.tiny.train import TrainConfig, load_balancing_loss, train

SMALL = TinyArch(
    hidden_size=32,
    num_attention_heads=2,
    num_key_value_heads=1,
    head_dim=16,
    linear_num_key_heads=1,
    linear_num_value_heads=2,
    linear_key_head_dim=16,
    linear_value_head_dim=16,
    num_experts=8,
    num_experts_per_tok=2,
    moe_intermediate_size=16,
    shared_expert_intermediate_size=32,
)


def test_a_few_steps_lower_the_loss_and_save_a_plain_checkpoint(tmp_path):
    cfg = TrainConfig(
        steps=30,
        batch_size=8,
        lr=1e-2,
        warmup_steps=3,
        log_every=1,
        out=str(tmp_path),
        checkpoint_at=(0.5,),
        experts_implementation="eager",
    )
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


def test_init_continues_a_checkpoint_and_grows_its_vocabulary(tmp_path):
    from qnext_lab.tiny.tokenizer import build_tokenizer

    tok = build_tokenizer()
    old = Qwen3NextForCausalLM(tiny_config(len(tok) - 4, SMALL, pad_token_id=tok.pad_token_id))  # before tool tags
    old.save_pretrained(tmp_path / "old")
    cfg = TrainConfig(
        steps=2,
        batch_size=4,
        warmup_steps=1,
        out=str(tmp_path / "new"),
        init=str(tmp_path / "old"),
        checkpoint_at=(),
        curriculum_frac=0.0,
        experts_implementation="eager",
        aux_coef=0.123,
    )
    train(cfg)
    new = AutoModelForCausalLM.from_pretrained(tmp_path / "new")
    assert new.config.vocab_size == len(tok) and new.get_input_embeddings().weight.shape[0] == len(tok)
    assert new.config.router_aux_loss_coef == 0.123  # the coefficient training used is the one shipped
    # ids the old model knew keep their rows' meaning: the rows moved only by two small optimizer steps
    assert torch.allclose(new.get_input_embeddings().weight[:10], old.get_input_embeddings().weight[:10], atol=0.05)
