"""Evaluate qnext-tiny: accuracy per task family with and without thinking and at thinking budgets, mean
thinking tokens, per-layer expert load, dead experts and a specialisation score.

Generation goes through ``qnext_lab.thinking.sweep_budget`` (batched greedy, left padding; every budget
is derived from one unlimited thinking run). Routing statistics come from one extra forward pass over the
thinking-mode transcripts with plain transformers ``output_router_logits``. Knows nothing about training.

    python -m qnext_lab.tiny.eval --seed 1234 --n 500
    report = evaluate(model, tok, make_problems(100, seed=1234)); print(report.table)
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd
import torch

from .tasks import FAMILIES, HARD_FAMILIES, Problem, make_problems, score

DEFAULT_BUDGETS: tuple[int | None, ...] = (0, 4, 8, 16, 32, 64, None)
TOKEN_CLASSES = ("digit", "letter", "space", "punct", "special")
EVAL_SEED = 1234  # training draws from seed 0's stream; evaluation problems come from this one


@dataclass
class EvalReport:
    """``table``: one row per family plus "hard" and "all"; ``load``: (L, E) expert shares."""

    table: pd.DataFrame
    load: torch.Tensor
    specialisation: pd.DataFrame  # rows: layers, columns: token classes, values: favourite share / (k/E)
    top_k: int
    seconds: float
    extras: dict = field(default_factory=dict)

    @property
    def dead_experts(self) -> list[int]:
        """Per layer, how many experts take < 0.2 * k/E of the routed tokens."""
        uniform = 1.0 / self.load.shape[1]  # shares are normalised over k slots: uniform = k/E / k
        return (self.load < 0.2 * uniform).sum(dim=1).tolist()

    def format(self) -> str:
        lines = [self.table.to_string(float_format=lambda x: f"{x:.2f}")]
        E = self.load.shape[1]
        for layer, row in enumerate(self.load):
            lines.append(
                f"layer {layer}: expert load min {row.min().item() * E:.2f}x max {row.max().item() * E:.2f}x "
                f"of uniform, dead (<0.2x) {self.dead_experts[layer]}"
            )
        lines.append("specialisation (favourite expert's share / uniform k/E):")
        lines.append(self.specialisation.to_string(float_format=lambda x: f"{x:.2f}"))
        lines.append(f"evaluated in {self.seconds:.0f} s")
        return "\n".join(lines)


def _token_class(text: str) -> str:
    if text.startswith("<") and text.endswith(">") and len(text) > 1:
        return "special"
    if text.isdigit():
        return "digit"
    if text.isalpha():
        return "letter"
    if text.isspace():
        return "space"
    return "punct"


@torch.no_grad()
def routing_stats(model, tokenizer, texts: Sequence[str], batch_size: int = 32) -> tuple[torch.Tensor, pd.DataFrame]:
    """Expert load (L, E) and specialisation per layer and token class over ``texts`` (padding excluded)."""
    k, E = model.config.num_experts_per_tok, model.config.num_experts
    classes = [_token_class(tokenizer.convert_ids_to_tokens(i)) for i in range(len(tokenizer))]
    class_of = torch.tensor([TOKEN_CLASSES.index(c) for c in classes])  # (V,)
    counts = None  # (L, C, E): top-k hits per layer, token class, expert
    for start in range(0, len(texts), batch_size):
        enc = tokenizer(list(texts[start : start + batch_size]), return_tensors="pt", padding=True, add_special_tokens=False)
        out = model(**enc, output_router_logits=True, use_cache=False)
        real = enc["attention_mask"].reshape(-1).bool()  # (B*T,)
        cls = class_of[enc["input_ids"].reshape(-1)[real]]  # (n,)
        if counts is None:
            counts = torch.zeros(len(out.router_logits), len(TOKEN_CLASSES), E)
        for layer, logits in enumerate(out.router_logits):  # (B*T, E)
            chosen = logits[real].topk(k, dim=-1).indices  # (n, k)
            onehot = torch.zeros(chosen.shape[0], E).scatter_(1, chosen, 1.0)  # (n, E)
            counts[layer].index_add_(0, cls, onehot)
    load = counts.sum(1) / counts.sum((1, 2)).unsqueeze(1)  # (L, E), sums to 1 per layer
    tokens_per_class = counts.sum(2) / k  # (L, C)
    favourite = counts.max(dim=2).values / tokens_per_class.clamp(min=1)  # (L, C): P(fav in top-k | class)
    spec = pd.DataFrame((favourite / (k / E)).numpy(), columns=list(TOKEN_CLASSES))
    unseen = [c for c, n in zip(TOKEN_CLASSES, tokens_per_class[0].tolist()) if n == 0]
    spec[unseen] = float("nan")  # a class absent from the texts has no favourite expert
    spec.index.name = "layer"
    return load, spec


def evaluate(
    model,
    tokenizer,
    problems: Sequence[Problem],
    budgets: Sequence[int | None] = DEFAULT_BUDGETS,
    batch_size: int = 50,
    progress=print,
) -> EvalReport:
    """Accuracy table (per family: thinking, non-thinking, each budget, mean thinking tokens) + routing."""
    from qnext_lab.thinking.sweep import sweep_budget

    if not problems:
        raise ValueError("problems must be a non-empty list of Problem")
    start = time.time()
    budgets = [b for b in budgets if b is not None] + [None]
    _, gens = sweep_budget(
        model, tokenizer, list(problems), budgets, score=score, batch_size=batch_size,
        return_generations=True, progress=progress, max_new_tokens=160,
    )
    correct = {key: [score(p, g.answer) for p, g in zip(problems, rows)] for key, rows in gens.items()}
    think_tokens = [g.thinking_tokens for g in gens[None]]
    groups = {f: [i for i, p in enumerate(problems) if p.family == f] for f in FAMILIES}
    groups = {f: idx for f, idx in groups.items() if idx}
    groups["hard"] = [i for i, p in enumerate(problems) if p.family in HARD_FAMILIES]
    groups["all"] = list(range(len(problems)))
    rows = []
    for name, idx in groups.items():
        if not idx:
            continue
        row = {"family": name, "n": len(idx)}
        row["thinking"] = 100 * sum(correct[None][i] for i in idx) / len(idx)
        row["non_thinking"] = 100 * sum(correct["non-thinking"][i] for i in idx) / len(idx)
        for b in budgets[:-1]:
            row[f"b{b}"] = 100 * sum(correct[b][i] for i in idx) / len(idx)
        row["think_tokens"] = sum(think_tokens[i] for i in idx) / len(idx)
        rows.append(row)
    table = pd.DataFrame(rows).set_index("family")
    transcripts = [g.prompt + g.text for g in gens[None]]
    load, spec = routing_stats(model, tokenizer, transcripts)
    return EvalReport(table, load, spec, model.config.num_experts_per_tok, time.time() - start,
                      extras={"generations": gens})


def main(argv: list[str] | None = None) -> EvalReport:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .paths import tiny_path

    p = argparse.ArgumentParser(description="Evaluate the bundled qnext-tiny model on held-out problems.")
    p.add_argument("--seed", type=int, default=EVAL_SEED)
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--path", default=None, help="checkpoint directory (default: the bundled one)")
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--card", action="store_true", help="write the model card (README.md) into the checkpoint")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    path = a.path or tiny_path()
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    report = evaluate(model, tokenizer, make_problems(a.n, seed=a.seed), batch_size=a.batch_size)
    print(report.format())
    if a.card:
        from .card import write_card

        print(f"model card written to {write_card(path, report, seed=a.seed)}")
    return report


if __name__ == "__main__":
    main()
