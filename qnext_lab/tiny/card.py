"""Write the qnext-tiny model card (README.md in the checkpoint) from a measured evaluation report.

Every figure in the card comes from the report or the checkpoint's ``training_log.json``; nothing is typed
in by hand. Knows nothing about how the report was produced.

    report = evaluate(model, tok, make_problems(500, seed=1234))
    write_card(tiny_path(), report, seed=1234)
"""

from __future__ import annotations

import json
import math
import pathlib

from safetensors import safe_open
from transformers import AutoConfig

from .eval import EvalReport
from .paths import STOP_TEXT
from .tasks import HARD_FAMILIES


def _markdown(df) -> str:
    cols = [df.index.name or "", *df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for name, row in df.iterrows():
        cells = [str(int(v)) if col == "n" else f"{v:.1f}" if isinstance(v, float) else str(v)
                 for col, v in zip(df.columns, row.tolist())]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _targets(report: EvalReport) -> list[str]:
    t = report.table
    budgets = [c for c in t.columns if c.startswith("b")]
    curve = [t.loc["all", c] for c in budgets] + [t.loc["all", "thinking"]]
    monotone = all(b >= a - 3 for a, b in zip(curve, curve[1:]))
    gaps = {f: t.loc[f, "thinking"] - t.loc[f, "non_thinking"] for f in HARD_FAMILIES if f in t.index}
    dead = report.dead_experts
    return [
        f"- thinking mode >= 95% overall: **{t.loc['all', 'thinking']:.1f}%** "
        f"({'met' if t.loc['all', 'thinking'] >= 95 else 'not met'})",
        "- hard families, thinking minus non-thinking >= 30 points: "
        + ", ".join(f"{f} **{g:+.1f}**" for f, g in gaps.items())
        + f" ({'met' if all(g >= 30 for g in gaps.values()) else 'not met for all'})",
        f"- accuracy non-decreasing with budget (within 3 points): {'met' if monotone else 'not met'} "
        f"({' -> '.join(f'{x:.1f}' for x in curve)})",
        f"- no dead experts (each >= 0.2 k/E of tokens in every layer): dead per layer {dead} "
        f"({'met' if sum(dead) == 0 else 'not met'})",
    ]


def _shortfall(report: EvalReport) -> str:
    """A plain statement of where thinking accuracy falls short of the 95% target, if it does."""
    t = report.table
    if t.loc["all", "thinking"] >= 95:
        return ""
    weak = ", ".join(f"{f} {t.loc[f, 'thinking']:.0f}%" for f in t.index if f not in ("hard", "all")
                     and t.loc[f, "thinking"] < 95)
    return (f"\nThinking accuracy is below the 95% target ({weak}): the traces are right in form but the model "
            "still misreads digits of the question in some steps; train loss was still falling when the "
            "hour ran out, so a longer run (`--init` continues this checkpoint) is the known way up.\n")


def _runs(log: dict) -> str:
    """ " (a + b: ...)" when the checkpoint was trained in a first run plus a continuation."""
    prev = log.get("previous")
    if not prev:
        return ""
    first, cont = prev["total_steps"], log["total_steps"] - prev["total_steps"]
    lr = log.get("config", {}).get("lr", "?")
    return (f" ({first} steps from scratch, then {cont} more continuing from that checkpoint with a fresh "
            f"optimizer, peak LR {lr}, more letter-counting data)")


def write_card(path: str | pathlib.Path, report: EvalReport, seed: int) -> pathlib.Path:
    """Render README.md into ``path`` (a trained checkpoint directory) and return its path."""
    path = pathlib.Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} is not a checkpoint directory (no config.json)")
    cfg = AutoConfig.from_pretrained(path)
    log_file = path / "training_log.json"
    log = json.loads(log_file.read_text()) if log_file.is_file() else {}
    last = log.get("steps", [{}])[-1]
    first = log.get("previous", log).get("config", {})  # the from-scratch run's settings
    with safe_open(path / "model.safetensors", "pt") as f:
        n_params = sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())
    load_lines = [
        f"| {i} | {cfg.layer_types[i]} | {row.min().item() * row.numel():.2f} | {row.max().item() * row.numel():.2f} | {d} |"
        for i, (row, d) in enumerate(zip(report.load, report.dead_experts))
    ]
    n = int(report.table.loc["all", "n"])
    text = f"""---
library_name: transformers
pipeline_tag: text-generation
tags: [qwen3_next, moe, hybrid-thinking, tiny, qnext-lab]
---

# qnext-tiny

A {n_params / 1e6:.1f}M-parameter `Qwen3NextForCausalLM` trained from scratch on CPU by qnext-lab
(`python -m qnext_lab.tiny.train`), so the kit's views (routing heatmaps, thinking vs non-thinking, the
thinking-budget slider) show real effects with no download. It solves five small task families and has
Qwen3's hybrid thinking: a `<think>` trace, `enable_thinking=False`, `/think` and `/no_think`, and it answers
from partial work when a budget cuts its thinking with the stop text it was trained on.

```python
from transformers import AutoModelForCausalLM, AutoTokenizer
model = AutoModelForCausalLM.from_pretrained(path); tok = AutoTokenizer.from_pretrained(path)
ids = tok.apply_chat_template([{{"role": "user", "content": "What is 478 + 356?"}}], add_generation_prompt=True,
                              enable_thinking=True, return_tensors="pt", return_dict=True)
print(tok.decode(model.generate(**ids, max_new_tokens=120)[0]))
```

## Architecture (genuine Qwen3-Next layout, scaled down)
| | qnext-tiny | Qwen3-Next-80B-A3B |
|---|---|---|
| layers | {cfg.num_hidden_layers} ({', '.join(cfg.layer_types)}) | 48 (3 Gated DeltaNet : 1 gated attention) |
| hidden size | {cfg.hidden_size} | 2048 |
| routed experts / top-k | {cfg.num_experts} / {cfg.num_experts_per_tok} (norm_topk_prob={cfg.norm_topk_prob}) | 512 / 10 |
| expert / shared expert width | {cfg.moe_intermediate_size} / {cfg.shared_expert_intermediate_size} (sigmoid-gated shared expert) | 512 / 512 |
| attention heads (q / kv, head dim) | {cfg.num_attention_heads} / {cfg.num_key_value_heads}, {cfg.head_dim} | 16 / 2, 256 |
| DeltaNet heads (qk / v, dims) | {cfg.linear_num_key_heads} / {cfg.linear_num_value_heads}, {cfg.linear_key_head_dim} | 16 / 32, 128 |
| vocabulary | {cfg.vocab_size} (characters + chat tokens) | 151,936 |

**Tokenizer: character level.** Every digit and letter is one token, so column addition, digit comparison
and spelling a word are single-token steps the model can learn in under an hour of CPU; the vocabulary is
tiny and the template tokens `<|im_start|>`, `<|im_end|>`, `<think>`, `</think>` are added tokens (the think
tags are not "special", as in Qwen3). The price is long stop text in tokens; it is kept short:
`{STOP_TEXT!r}` (`generation_config.thinking_stop_text`).

## Training
- Data: `qnext_lab.tiny.tasks` (seeded generator): add (multi-digit with carries), arith (multi-step with
  precedence), count (letters in a word, spelled one letter per line with a running count), compare, sort.
  Each problem as a full thinking trace (45%), non-thinking with the empty think block in the masked
  prompt (30%), or thinking cut at a random character + stop text + answer (25%); loss on the assistant
  turn only (the forced stop text is masked too). Soft switches appear in 10% of prompts.
- AdamW (betas 0.9/0.95, wd 0.01), peak LR {first.get('lr', '?')}, warmup then cosine,
  batch {first.get('batch_size', '?')}, curriculum on problem size over the first 30%,
  per-layer Switch load-balancing loss (coef {first.get('aux_coef', '?')}).
- **{log.get('total_steps', '?')} steps in {log.get('train_seconds', 0) / 60:.0f} minutes**{_runs(log)} on a shared 2-core CPU
  (1 torch thread), final train cross-entropy {last.get('ce', '?')}. Intermediate checkpoints (bf16) in
  `checkpoints/step-*` show routing as it settles.

## Evaluation ({n} held-out problems, seed {seed}, greedy)
Accuracy in % per family: thinking (unlimited), non-thinking (`enable_thinking=False`), and thinking
budgets `bN` (at N thinking tokens the stop text is forced, then the model answers);
`think_tokens` = mean thinking tokens when unlimited.

{_markdown(report.table)}

Targets:
{chr(10).join(_targets(report))}

Expert load per layer (share of routed tokens relative to uniform k/E; dead = below 0.2x):

| layer | type | min | max | dead |
|---|---|---|---|---|
{chr(10).join(load_lines)}

Specialisation: how often a token class is routed to its favourite expert, relative to the uniform k/E:

{_markdown(report.specialisation)}

Reproduce: `python -m qnext_lab.tiny.eval --seed {seed} --n {n}` ({report.seconds / 60:.0f} minutes here).

## Limitations
A teaching model: five narrow task families, short English, no general knowledge. Problems outside the
trained sizes (e.g. 6-digit addition) or phrasings fail. Greedy decoding is what it was evaluated with.
{_shortfall(report)}"""
    out = path / "README.md"
    out.write_text(text)
    return out
