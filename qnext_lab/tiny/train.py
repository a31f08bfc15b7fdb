"""Train qnext-tiny from scratch on CPU and write the bundled checkpoint directory.

AdamW with warmup then cosine decay, a curriculum that grows problem sizes over the first 30% of training,
the loss on the assistant turns only, and a per-layer Switch load-balancing loss (coefficient
``config.router_aux_loss_coef``, so the shipped config states what training used) so that no expert dies.
The schedule runs on "progress" = max(step / steps, elapsed / time budget): on a busy machine the run
still ends on time, having taken fewer steps. ``--init`` continues a checkpoint; when the tokenizer has
grown since (e.g. the tool tags), the embedding and output rows grow with it. The output directory is
rewritten every ``save_every_minutes`` so a killed run loses little. Knows nothing about evaluation or the
model card.

    python -m qnext_lab.tiny.train --steps 3000 --minutes 50 --out qnext_lab/tiny/qnext-tiny
    python -m qnext_lab.tiny.train --steps 20 --out /tmp/smoke   # a quick smoke run
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import random
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from tqdm import tqdm
from transformers import GenerationConfig, PreTrainedTokenizerBase, Qwen3NextForCausalLM

from .data import IGNORE, make_batches
from .model import TinyArch, tiny_config
from .paths import STOP_TEXT, tiny_path
from .tokenizer import IM_END, build_tokenizer


@dataclass
class TrainConfig:
    steps: int = 3000
    minutes: float = 0.0  # wall-clock budget; 0 = no limit (then `steps` alone sets the schedule)
    batch_size: int = 32
    lr: float = 3e-3  # small models tolerate a high peak LR; cosine decays it to lr * min_lr_frac
    min_lr_frac: float = 0.05
    warmup_steps: int = 100
    weight_decay: float = 0.01
    aux_coef: float | None = None  # per-layer load balancing; None = the model config's router_aux_loss_coef
    curriculum_frac: float = 0.3  # problems reach full size at this fraction of training (0 = no curriculum)
    seed: int = 0
    threads: int = 1  # 2 OpenMP threads ran 3-8x SLOWER than 1 on the shared 2-core machine (barrier stalls)
    experts_implementation: str = "grouped_mm"  # the fastest transformers backend measured on CPU here
    checkpoint_at: tuple[float, ...] = (0.04, 0.25)  # fractions of training with an intermediate checkpoint
    log_every: int = 25
    save_every_minutes: float = 10.0  # rewrite `out` this often during training (0 = only at the end)
    init: str | None = None  # continue from this checkpoint (fresh optimizer, short warmup) instead of scratch
    device: str = "cpu"  # "cuda" trains on a GPU with the same data and schedule
    out: str = field(default_factory=lambda: str(tiny_path(check=False)))


def load_balancing_loss(
    router_logits: tuple[torch.Tensor, ...], real: torch.Tensor, top_k: int, return_fractions: bool = False
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Switch loss E * sum_e f_e * P_e, per layer over real (non-pad) tokens, averaged over layers.

    transformers' own version pools all layers together, which lets one layer starve an expert while
    another overfeeds it; per layer, every expert in every layer is pushed to stay alive. With
    ``return_fractions`` also the (L, E) routed fractions f the loss used (training logs their minimum;
    measuring a trained model's load is ``qnext_lab.analysis``'s job).
    """
    losses, fracs = [], []
    for logits in router_logits:  # (N, E) per layer, N = B*T
        probs = logits[real].float().softmax(-1)  # (n, E)
        E = probs.shape[-1]
        chosen = probs.topk(top_k, dim=-1).indices.reshape(-1)  # (n*k,)
        frac = torch.zeros(E, device=probs.device).index_add_(0, chosen, torch.ones_like(chosen, dtype=probs.dtype))
        frac = frac / chosen.numel()  # (E,)
        losses.append(E * (frac * probs.mean(0)).sum())
        fracs.append(frac)
    loss = torch.stack(losses).mean()
    return (loss, torch.stack(fracs)) if return_fractions else loss


def grow_vocabulary(model: Qwen3NextForCausalLM, tokenizer: PreTrainedTokenizerBase) -> int:
    """Give ``model`` a row for every token ``tokenizer`` has beyond its vocabulary; returns rows added.

    Existing ids keep their rows (new tokens are appended to the tokenizer); new rows start at the mean of
    the old ones (transformers' ``mean_resizing``), so the continued model's outputs do not jump.
    """
    old, new = model.config.vocab_size, len(tokenizer)
    if new < old:
        raise ValueError(
            f"the tokenizer has {new} tokens but the checkpoint {old}: it cannot shrink; "
            "train from scratch with this tokenizer instead"
        )
    if new > old:
        model.resize_token_embeddings(new, mean_resizing=True)
    return new - old


def lr_at(progress: float, step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    cos = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return cfg.lr * (cfg.min_lr_frac + (1 - cfg.min_lr_frac) * cos)


def build_model(tokenizer: PreTrainedTokenizerBase, arch: TinyArch | None = None) -> Qwen3NextForCausalLM:
    config = tiny_config(
        len(tokenizer),
        arch,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.convert_tokens_to_ids(IM_END),
        bos_token_id=None,
    )
    return Qwen3NextForCausalLM(config)


def generation_config(tokenizer: PreTrainedTokenizerBase) -> GenerationConfig:
    """Greedy by default; `thinking_stop_text` is the stop-thinking text the model was trained with."""
    gc = GenerationConfig(
        eos_token_id=tokenizer.convert_tokens_to_ids(IM_END),
        pad_token_id=tokenizer.pad_token_id,
        do_sample=False,
        max_new_tokens=160,
    )
    gc.thinking_stop_text = STOP_TEXT
    return gc


def save_checkpoint(model: Qwen3NextForCausalLM, path: pathlib.Path, dtype: torch.dtype | None = None) -> None:
    """Save with safetensors; `dtype` (e.g. bfloat16) halves intermediate checkpoints without touching `model`."""
    path.mkdir(parents=True, exist_ok=True)
    if dtype is None:
        model.save_pretrained(path, safe_serialization=True)
        return
    state = {k: v.detach().to(dtype) for k, v in model.state_dict().items()}
    model.config.dtype = dtype
    model.save_pretrained(path, state_dict=state, safe_serialization=True)
    model.config.dtype = torch.float32


def _save_all(model, tokenizer, out: pathlib.Path, log: dict) -> None:
    """Write the whole checkpoint directory (weights, tokenizer, generation config, log) into ``out``."""
    backend = model.config._experts_implementation
    model.config._experts_implementation = None  # the shipped config must not pin a backend
    was_training = model.training
    model.eval()
    save_checkpoint(model, out)
    model.train(was_training)
    model.config._experts_implementation = backend
    tokenizer.save_pretrained(out)
    generation_config(tokenizer).save_pretrained(out)
    (out / "training_log.json").write_text(json.dumps(log, indent=1))


def train(cfg: TrainConfig, tokenizer: PreTrainedTokenizerBase | None = None, arch: TinyArch | None = None) -> dict:
    """Train, save to ``cfg.out`` and return the training log (losses per logged step)."""
    if cfg.steps <= 0 or cfg.batch_size <= 0:
        raise ValueError("steps and batch_size must be positive")
    device = torch.device(cfg.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda asked for, but torch sees no CUDA device here; use --device cpu")
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    tokenizer = tokenizer or build_tokenizer()
    if cfg.init:
        model = Qwen3NextForCausalLM.from_pretrained(cfg.init, dtype=torch.float32)
        grow_vocabulary(model, tokenizer)
    else:
        model = build_model(tokenizer, arch)
    if cfg.aux_coef is not None:  # an explicit coefficient is recorded in the config it ships with
        model.config.router_aux_loss_coef = cfg.aux_coef
    aux_coef = model.config.router_aux_loss_coef
    model.to(device)
    model.config._experts_implementation = cfg.experts_implementation
    model.set_experts_implementation(cfg.experts_implementation)
    model.train()
    top_k = model.config.num_experts_per_tok
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "norm" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "norm" not in n)]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr,
        betas=(0.9, 0.95),
    )
    out = pathlib.Path(cfg.out)
    pending = sorted(cfg.checkpoint_at)
    log: dict = {"config": {**vars(cfg), "aux_coef": aux_coef}, "steps": []}
    previous = pathlib.Path(cfg.init or "") / "training_log.json"
    if cfg.init and previous.is_file():  # a continuation: keep the earlier run's record
        log["previous"] = json.loads(previous.read_text())
    start, step, progress = time.time(), 0, 0.0
    last_save, queue = start, []
    bar = tqdm(total=cfg.steps, desc="qnext-tiny", mininterval=10)
    while progress < 1.0:
        level = min(1.0, 0.3 + 0.7 * progress / cfg.curriculum_frac) if cfg.curriculum_frac > 0 else 1.0
        if not queue:
            queue = make_batches(tokenizer, rng, cfg.batch_size, level)
        input_ids, labels = queue.pop()  # (B, T), (B, T)
        input_ids, labels = input_ids.to(device), labels.to(device)
        lr = lr_at(progress, step, cfg)
        for group in opt.param_groups:
            group["lr"] = lr
        outputs = model(input_ids=input_ids, output_router_logits=True, use_cache=False)
        logits = outputs.logits[:, :-1]  # (B, T-1, V): position t predicts token t+1
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=IGNORE)
        real = (input_ids != tokenizer.pad_token_id).reshape(-1)  # (B*T,)
        aux, fractions = load_balancing_loss(outputs.router_logits, real, top_k, return_fractions=True)  # (), (L, E)
        loss = ce + aux_coef * aux
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        elapsed = time.time() - start
        progress = max(step / cfg.steps, elapsed / (60 * cfg.minutes) if cfg.minutes else 0.0)
        bar.update(1)
        if step % cfg.log_every == 0 or step == 1 or progress >= 1.0:
            min_share = (fractions.min(dim=1).values * fractions.shape[1]).tolist()  # min share / uniform, per layer
            entry = {
                "step": step,
                "elapsed_s": round(elapsed, 1),
                "ce": round(ce.item(), 4),
                "aux": round(aux.item(), 4),
                "lr": round(lr, 6),
                "level": round(level, 3),
                "min_expert_share": [round(x, 3) for x in min_share],
            }
            log["steps"].append(entry)
            bar.write(json.dumps(entry))
        while pending and progress >= pending[0]:
            pending.pop(0)
            ckpt = out / "checkpoints" / f"step-{step:04d}"
            save_checkpoint(model, ckpt, dtype=torch.bfloat16)
            tokenizer.save_pretrained(ckpt)
            bar.write(f"saved intermediate checkpoint {ckpt}")
        _totals(log, step, time.time() - start)
        if cfg.save_every_minutes and time.time() - last_save >= 60 * cfg.save_every_minutes and progress < 1.0:
            _save_all(model, tokenizer, out, log)  # a killed run keeps this (the log says how far it got)
            last_save = time.time()
            bar.write(f"saved {out} at step {step}")
    bar.close()
    _totals(log, step, time.time() - start)
    model.eval()
    _save_all(model.to("cpu"), tokenizer, out, log)
    return log


def _totals(log: dict, step: int, seconds: float) -> None:
    """Steps and seconds so far, earlier runs of a continuation included."""
    log["run_steps"], log["run_seconds"] = step, round(seconds, 1)
    log["total_steps"], log["train_seconds"] = step, round(seconds, 1)
    if "previous" in log:
        log["total_steps"] += log["previous"]["total_steps"]
        log["train_seconds"] = round(log["train_seconds"] + log["previous"]["train_seconds"], 1)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    defaults = TrainConfig()
    p.add_argument("--steps", type=int, default=defaults.steps)
    p.add_argument("--minutes", type=float, default=defaults.minutes, help="wall-clock budget (0 = none)")
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--lr", type=float, default=defaults.lr)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--threads", type=int, default=defaults.threads)
    p.add_argument("--experts-implementation", default=defaults.experts_implementation)
    p.add_argument("--out", default=defaults.out)
    p.add_argument("--init", default=None, help="continue training from this checkpoint directory")
    p.add_argument("--warmup-steps", type=int, default=defaults.warmup_steps)
    p.add_argument(
        "--aux-coef",
        type=float,
        default=None,
        help="load-balancing coefficient (default: the config's router_aux_loss_coef)",
    )
    p.add_argument("--device", default=defaults.device, help="cpu or cuda")
    p.add_argument("--save-every-minutes", type=float, default=defaults.save_every_minutes)
    p.add_argument(
        "--checkpoint-at",
        type=float,
        nargs="*",
        default=None,
        help="fractions of training with an intermediate bf16 checkpoint (default 0.04 0.25; none with --init)",
    )
    a = p.parse_args(argv)
    cfg = TrainConfig(**{k: v for k, v in vars(a).items() if k != "checkpoint_at"})  # each option is a field
    if a.init:  # a continuation keeps the earlier intermediate checkpoints and starts at full problem size
        cfg.checkpoint_at, cfg.curriculum_frac = (), 0.0
    if a.checkpoint_at is not None:
        cfg.checkpoint_at = tuple(a.checkpoint_at)
    log = train(cfg)
    print(f"done: {log['total_steps']} steps in {log['train_seconds']:.0f} s -> {cfg.out}")
    return log


if __name__ == "__main__":
    main()
