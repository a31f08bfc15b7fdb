"""Evaluate qnext-tiny: accuracy and mean thinking tokens per task family and mode, and per-layer expert load.

Modes: thinking (unlimited), non-thinking, thinking budgets ``bN`` and two-turn chats (families answered in
the head), and for tool families the tool offered (through ``qnext_lab.run_agent``) or not, each with and
without thinking. Head-family generation goes through ``qnext_lab.thinking.sweep_generations`` (batched greedy;
every budget derived from one unlimited run); routing through ``qnext_lab.capture`` over the thinking
transcripts, counted with ``qnext_lab.analysis`` (one definition of load and of a dead expert). The JSON keeps
raw routed counts, so evaluations of disjoint parts (``--families``, ``--shard``; e.g. run in parallel) merge
exactly (``--merge``).
Knows nothing about training or the model card (``card.py`` renders the JSON this writes).

    python -m qnext_lab.tiny.eval --seed 4321 --n 500 --json eval.json
    report = evaluate(model, tok, make_problems(120, seed=4321, families=list(FAMILIES))); print(report.table)
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd
import torch

from .report import missing, ordered_modes
from .tasks import FAMILIES, HARD_FAMILIES, TOOL_FAMILIES, TOOL_FUNCTIONS, Problem, make_problems, score

DEFAULT_BUDGETS: tuple[int, ...] = (0, 4, 8, 12, 16, 20, 24, 32, 64)  # dense where traces end (10-30 tokens)
TOKEN_CLASSES = ("digit", "letter", "space", "punct", "special")
EVAL_SEED = 4321  # training draws from seeds 0, 1 and 2; evaluation problems come from this one


@dataclass
class EvalReport:
    """``modes``: per family (plus "hard" and "all") and mode: n, accuracy (%) and mean thinking tokens;
    ``counts``: (L, C, E) routed slots per layer, token class (``TOKEN_CLASSES``) and expert.

    Modes: ``thinking``, ``non_thinking``, ``bN`` (budget N), ``two_turn`` (asked after an earlier question
    and its answer, thinking) for head families; for tool families ``thinking`` / ``non_thinking`` are with
    the tool offered and ``no_tools_thinking`` / ``no_tools_non_thinking`` without it.
    """

    modes: dict[str, dict[str, dict]]
    counts: torch.Tensor  # (L, C, E) int64
    top_k: int
    layer_types: list[str]
    seconds: float
    extras: dict = field(default_factory=dict)

    @property
    def load(self) -> torch.Tensor:
        """(L, E) share of each layer's routed slots."""
        per_layer = self.counts.sum(1).double()  # (L, E)
        return (per_layer / per_layer.sum(1, keepdim=True).clamp_min(1)).float()

    @property
    def specialisation(self) -> pd.DataFrame:
        """Per layer (rows) and token class: how often the class's favourite expert is in its top-k, / (k/E)."""
        E = self.counts.shape[2]
        tokens = self.counts.sum(2).double() / self.top_k  # (L, C)
        favourite = self.counts.max(dim=2).values.double() / tokens.clamp_min(1)  # (L, C)
        ratio = (favourite / (self.top_k / E)).numpy()
        ratio[(tokens == 0).numpy()] = float("nan")  # a class absent from the texts has no favourite expert
        spec = pd.DataFrame(ratio, columns=list(TOKEN_CLASSES))
        spec.index.name = "layer"
        return spec

    @property
    def table(self) -> pd.DataFrame:
        """Accuracy (%) per family (rows) and mode (columns), ``n`` and ``think_tokens`` (thinking, unlimited)."""
        rows = []
        for family, modes in self.modes.items():
            row = {"family": family, "n": max(m["n"] for m in modes.values())}
            row.update({mode: m["accuracy"] for mode, m in modes.items()})
            row["think_tokens"] = modes["thinking"]["think_tokens"] if "thinking" in modes else float("nan")
            rows.append(row)
        table = pd.DataFrame(rows).set_index("family")
        modes = ordered_modes(c for c in table.columns if c not in ("n", "think_tokens"))
        return table[["n", *modes, "think_tokens"]]

    @property
    def dead_experts(self) -> list[int]:
        """Per layer, how many experts are dead (``qnext_lab.analysis.load.DEAD_SHARE``)."""
        from qnext_lab.analysis.load import dead_mask

        return dead_mask(self.load).sum(dim=1).tolist()

    def to_json(self) -> dict:
        """Per family and mode: n, accuracy (%), mean thinking tokens; per layer: expert load min/max/dead;
        plus the raw routed counts (``routing_counts``, (L, C, E)) that ``merge`` adds up."""
        E = self.counts.shape[2]
        load = [
            {
                "layer": i,
                "type": t,
                "min": round(float(r.min()) * E, 3),
                "max": round(float(r.max()) * E, 3),
                "dead": int(d),
            }
            for i, (t, r, d) in enumerate(zip(self.layer_types, self.load, self.dead_experts))
        ]
        spec = self.specialisation
        families = {
            f: {
                mode: {k: round(v, 2) if isinstance(v, float) else v for k, v in m.items()} for mode, m in modes.items()
            }
            for f, modes in self.modes.items()
        }
        return {
            "families": families,
            "expert_load": load,
            "specialisation": {c: [None if missing(v) else round(float(v), 2) for v in spec[c]] for c in spec},
            "seconds": round(self.seconds, 1),
            "top_k": self.top_k,
            "layer_types": self.layer_types,
            "token_classes": list(TOKEN_CLASSES),
            "routing_counts": self.counts.tolist(),
            **{k: v for k, v in self.extras.items() if k != "generations"},
        }

    @classmethod
    def from_json(cls, data: dict) -> EvalReport:
        """The report a ``to_json`` dict describes (family rows and routed counts; aggregates recomputed)."""
        if not isinstance(data, dict) or "families" not in data or "routing_counts" not in data:
            raise ValueError("not an evaluation JSON of `python -m qnext_lab.tiny.eval --json` (no routing_counts)")
        fams = {f: m for f, m in data["families"].items() if f not in ("hard", "all")}
        extras = {k: data[k] for k in ("right_tool_call", "part") if k in data}
        return cls(
            _with_groups(fams),
            torch.tensor(data["routing_counts"], dtype=torch.int64),
            int(data["top_k"]),
            list(data["layer_types"]),
            float(data["seconds"]),
            extras,
        )

    def format(self) -> str:
        lines = [self.table.to_string(float_format=lambda x: f"{x:.1f}")]
        for row in self.to_json()["expert_load"]:
            lines.append(
                f"layer {row['layer']} ({row['type']}): expert load min {row['min']:.2f}x max "
                f"{row['max']:.2f}x of uniform, dead {row['dead']}"
            )
        lines.append("specialisation (favourite expert's share / uniform k/E):")
        lines.append(self.specialisation.to_string(float_format=lambda x: f"{x:.2f}"))
        lines.append(f"evaluated in {self.seconds:.0f} s")
        return "\n".join(lines)


def merge(reports: Sequence[EvalReport]) -> EvalReport:
    """One report from evaluations of disjoint problem sets of one checkpoint (e.g. ``--families`` or
    ``--shard`` parts): per family and mode n-weighted, routed counts added, groups redone.

    Each report's ``extras["part"]`` (what ``main`` records: families and shard) must differ.
    """
    if not reports:
        raise ValueError("merge needs at least one report")
    parts = [json.dumps(r.extras.get("part"), sort_keys=True) for r in reports]
    if len(set(parts)) != len(parts):
        raise ValueError("two of the merged evaluations are the same part; merge disjoint ones")
    fams: dict[str, dict] = {}
    for r in reports:
        for f, modes in r.modes.items():
            if f in ("hard", "all"):
                continue
            into = fams.setdefault(f, {})
            for mode, m in modes.items():
                if mode not in into:
                    into[mode] = dict(m)
                    continue
                n = into[mode]["n"] + m["n"]
                into[mode] = {
                    "n": n,
                    **{k: (into[mode][k] * into[mode]["n"] + m[k] * m["n"]) / n for k in ("accuracy", "think_tokens")},
                }
    shapes = {tuple(r.counts.shape) for r in reports}
    if len(shapes) != 1:
        raise ValueError(f"the evaluations come from different models (routing shapes {sorted(shapes)})")
    extras: dict = {}
    for r in reports:  # tool-call rates: n-weighted like the accuracies
        for mode, rate in r.extras.get("right_tool_call", {}).items():
            n = sum(m[mode]["n"] for f, m in r.modes.items() if f in TOOL_FAMILIES and mode in m)
            acc = extras.setdefault("right_tool_call", {}).setdefault(mode, [0.0, 0])
            acc[0], acc[1] = acc[0] + rate * n, acc[1] + n
    if "right_tool_call" in extras:
        extras["right_tool_call"] = {m: round(v / max(n, 1), 2) for m, (v, n) in extras["right_tool_call"].items()}
    return EvalReport(
        _with_groups(fams),
        sum(r.counts for r in reports),
        reports[0].top_k,
        reports[0].layer_types,
        max(r.seconds for r in reports),
        extras,
    )


def _with_groups(fams: dict[str, dict]) -> dict[str, dict]:
    """``fams`` plus "hard" (``HARD_FAMILIES``) and "all": per mode, n-weighted over the families that have it."""
    out = dict(fams)
    for name, members in (("hard", [f for f in HARD_FAMILIES if f in fams]), ("all", list(fams))):
        group: dict[str, dict] = {}
        for f in members:
            for mode, m in fams[f].items():
                g = group.setdefault(mode, {"n": 0, "right": 0.0, "tokens": 0.0})
                g["n"] += m["n"]
                g["right"] += m["accuracy"] * m["n"]
                g["tokens"] += m["think_tokens"] * m["n"]
        if group:
            out[name] = {
                mode: {"n": g["n"], "accuracy": g["right"] / g["n"], "think_tokens": g["tokens"] / g["n"]}
                for mode, g in group.items()
            }
    return out


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
def routing_counts(model, tokenizer, texts: Sequence[str], batch_size: int = 32) -> torch.Tensor:
    """(L, C, E) routed slots per layer, token class and expert over ``texts`` (padding excluded).

    Routing is recorded with ``qnext_lab.capture`` and counted with ``qnext_lab.analysis.routed_counts``.
    """
    from qnext_lab.analysis.load import routed_counts
    from qnext_lab.trace.capturing import capture

    class_of = torch.tensor(
        [TOKEN_CLASSES.index(_token_class(t)) for t in tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))]
    )  # (V,)
    total = None
    for start in range(0, len(texts), batch_size):
        enc = tokenizer(
            list(texts[start : start + batch_size]), return_tensors="pt", padding=True, add_special_tokens=False
        )
        with capture(model) as trace:
            model(**enc, use_cache=False)
        cls = class_of[trace.token_ids.long()]  # (N,)
        counts = torch.stack(
            [routed_counts(trace.topk_ids, trace.num_experts, tokens=cls == c) for c in range(len(TOKEN_CLASSES))],
            dim=1,
        )  # (L, C, E)
        total = counts if total is None else total + counts
    return total


def _two_turn(
    model, tokenizer, problems: Sequence[Problem], batch_size: int, say: Callable, max_new_tokens: int
) -> dict[int, tuple[bool, int]]:
    """Each problem asked second, after the previous problem and its right answer (thinking mode)."""
    from qnext_lab.thinking.generation import generate_batch

    start, gens = time.time(), []
    chats = [
        [
            {"role": "user", "content": problems[i - 1].question},
            {"role": "assistant", "content": problems[i - 1].answer},
            {"role": "user", "content": p.question},
        ]
        for i, p in enumerate(problems)
    ]
    for i in range(0, len(chats), batch_size):
        gens += generate_batch(
            model, tokenizer, chats[i : i + batch_size], thinking=True, max_new_tokens=max_new_tokens
        )
    say(f"two-turn chats: {time.time() - start:.1f} s")
    return {i: (score(p, g.answer), g.thinking_tokens) for i, (p, g) in enumerate(zip(problems, gens))}


def _tool_results(
    model, tokenizer, problems: Sequence[Problem], batch_size: int, say: Callable, max_new_tokens: int
) -> tuple[dict[str, list[tuple[bool, int]]], list[str], dict[str, float]]:
    """Per mode (tool offered, through ``run_agent``: ``thinking`` / ``non_thinking``; not offered:
    ``no_tools_*``) and problem: (right?, thinking tokens); the thinking transcripts without tools; % of
    episodes whose tool calls were exactly the one right call, per offered mode."""
    from qnext_lab.thinking.agent import run_agent
    from qnext_lab.thinking.generation import generate_batch

    results: dict[str, list[tuple[bool, int]]] = {}
    calls: dict[str, float] = {}
    transcripts: list[str] = []
    for thinking in (True, False):
        mode, start, runs = ("thinking" if thinking else "non_thinking"), time.time(), []
        for p in problems:
            runs.append(
                run_agent(
                    model,
                    tokenizer,
                    p.question,
                    [TOOL_FUNCTIONS[p.tool]],
                    thinking=thinking,
                    capture=False,
                    max_new_tokens=max_new_tokens,
                    max_turns=2,
                )
            )
        results[mode] = [(score(p, r.answer), r.thinking_tokens) for p, r in zip(problems, runs)]
        exact = [
            [(c.name, c.arguments) for c in r.tool_calls] == [(p.tool, dict(p.arguments))]
            for p, r in zip(problems, runs)
        ]
        calls[mode] = round(100 * sum(exact) / len(exact), 2)
        say(f"tool offered, {mode}: {time.time() - start:.1f} s")
    for thinking in (True, False):
        mode, start, gens = ("no_tools_thinking" if thinking else "no_tools_non_thinking"), time.time(), []
        for i in range(0, len(problems), batch_size):
            gens += generate_batch(
                model,
                tokenizer,
                [p.question for p in problems[i : i + batch_size]],
                thinking=thinking,
                max_new_tokens=max_new_tokens,
            )
        results[mode] = [(score(p, g.answer), g.thinking_tokens) for p, g in zip(problems, gens)]
        if thinking:
            transcripts += [g.prompt + g.text for g in gens]
        say(f"no tools, {mode}: {time.time() - start:.1f} s")
    return results, transcripts, calls


def evaluate(
    model,
    tokenizer,
    problems: Sequence[Problem],
    budgets: Sequence[int] = DEFAULT_BUDGETS,
    batch_size: int = 50,
    progress: Callable[[str], None] | None = print,
    max_new_tokens: int = 160,
) -> EvalReport:
    """Accuracy table (per family and mode, mean thinking tokens) + expert load and specialisation."""
    from qnext_lab.thinking.sweep import sweep_generations

    if not problems:
        raise ValueError("problems must be a non-empty list of Problem")
    say = progress or (lambda message: None)
    start = time.time()
    head = [p for p in problems if p.family not in TOOL_FAMILIES]
    tool = [p for p in problems if p.family in TOOL_FAMILIES]
    # per problem and mode: (right?, thinking tokens); problems are indexed in `order`
    order: list[Problem] = head + tool
    results: dict[str, dict[int, tuple[bool, int]]] = {}
    transcripts, extras = [], {}
    budgets = [int(b) for b in budgets if b is not None]
    if head:
        gens = sweep_generations(
            model,
            tokenizer,
            head,
            [*budgets, None],
            batch_size=batch_size,
            progress=say,
            max_new_tokens=max_new_tokens,
        ).generations
        for key, rows in gens.items():
            mode = {None: "thinking", "non-thinking": "non_thinking"}.get(key, f"b{key}")
            results[mode] = {i: (score(p, g.answer), g.thinking_tokens) for i, (p, g) in enumerate(zip(head, rows))}
        transcripts += [g.prompt + g.text for g in gens[None]]
        extras["generations"] = gens
        results["two_turn"] = _two_turn(model, tokenizer, head, batch_size, say, max_new_tokens)
    if tool:
        recs, texts, calls = _tool_results(model, tokenizer, tool, batch_size, say, max_new_tokens)
        for mode, rows in recs.items():
            results.setdefault(mode, {}).update({len(head) + i: r for i, r in enumerate(rows)})
        transcripts += texts
        extras["right_tool_call"] = calls
    fams: dict[str, dict[str, dict]] = {}
    for family in FAMILIES:
        idx = [i for i, p in enumerate(order) if p.family == family]
        for mode, per in results.items():
            got = [per[i] for i in idx if i in per]
            if got:
                fams.setdefault(family, {})[mode] = {
                    "n": len(got),
                    "accuracy": 100 * sum(r for r, _ in got) / len(got),
                    "think_tokens": sum(t for _, t in got) / len(got),
                }
    counts = routing_counts(model, tokenizer, transcripts)
    layer_types = list(getattr(model.config, "layer_types", [""] * counts.shape[0]))
    return EvalReport(
        _with_groups(fams),
        counts,
        int(model.config.num_experts_per_tok),
        layer_types,
        time.time() - start,
        extras=extras,
    )


def main(argv: list[str] | None = None) -> EvalReport:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .paths import tiny_path

    p = argparse.ArgumentParser(description="Evaluate the bundled qnext-tiny model on held-out problems.")
    p.add_argument(
        "--seed",
        type=int,
        default=EVAL_SEED,
        help="problem seed: one no training run used (their seeds are in the card's reproduce chain)",
    )
    p.add_argument("--n", type=int, default=500, help="problems, cycling through every family (tool use included)")
    p.add_argument(
        "--families",
        default=None,
        help="comma-separated subset of the n problems' families to evaluate (e.g. to run parts in parallel)",
    )
    p.add_argument(
        "--shard",
        default=None,
        metavar="I/K",
        help="only problems i, i+K, i+2K, ... of those selected (another way to run parts in parallel)",
    )
    p.add_argument("--path", default=None, help="checkpoint directory (default: the bundled one)")
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None, help="also write the evaluation as JSON to this path")
    p.add_argument(
        "--merge",
        nargs="+",
        default=None,
        metavar="JSON",
        help="instead of evaluating, merge these JSONs (disjoint --families of one seed and checkpoint)",
    )
    a = p.parse_args(argv)
    if a.merge:
        parts = [json.loads(pathlib.Path(f).read_text()) for f in a.merge]
        if len({(d["seed"], d["n"], d["checkpoint"]) for d in parts}) != 1:
            raise ValueError("--merge: the JSONs must share seed, n and checkpoint")
        report = merge([EvalReport.from_json(d) for d in parts])
        meta = {k: parts[0][k] for k in ("seed", "n", "checkpoint")}
    else:
        torch.set_num_threads(a.threads)
        path = a.path or tiny_path()
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
        tokenizer = AutoTokenizer.from_pretrained(path)
        problems = make_problems(a.n, seed=a.seed, families=list(FAMILIES))
        if a.families:
            wanted = [f.strip() for f in a.families.split(",")]
            unknown = [f for f in wanted if f not in FAMILIES]
            if unknown:
                raise ValueError(f"--families: unknown {unknown}; choose from {list(FAMILIES)}")
            problems = [q for q in problems if q.family in wanted]
        if a.shard:
            i, k = (int(x) for x in a.shard.split("/"))
            if not 0 <= i < k:
                raise ValueError(f"--shard I/K needs 0 <= I < K, got {a.shard}")
            problems = problems[i::k]
        report = evaluate(model, tokenizer, problems, batch_size=a.batch_size)
        report.extras["part"] = {"families": a.families, "shard": a.shard}
        meta = {"seed": a.seed, "n": a.n, "checkpoint": str(pathlib.Path(path).resolve())}
    print(report.format())
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps({**meta, **report.to_json()}, indent=1))
        print(f"wrote {a.json}")
    return report


if __name__ == "__main__":
    main()
