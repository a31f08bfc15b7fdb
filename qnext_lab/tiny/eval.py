"""Evaluate qnext-tiny: accuracy and mean thinking tokens per task family and mode, and per-layer expert load.

Modes: thinking (unlimited), non-thinking, thinking budgets ``bN`` (families answered in the head), and for
tool families the tool offered or not, each with and without thinking. Head-family generation goes through
``qnext_lab.thinking.sweep_budget`` (batched greedy; every budget derived from one unlimited run); tool
problems through an agent loop (see ``_agent_answers``); routing through ``qnext_lab.capture`` over the
thinking transcripts, summed up with ``qnext_lab.analysis`` (one definition of load and of a dead expert).
Knows nothing about training or the model card (``card.py`` renders the JSON this writes).

    python -m qnext_lab.tiny.eval --seed 4321 --n 500 --json eval.json
    report = evaluate(model, tok, make_problems(120, seed=4321, families=list(FAMILIES))); print(report.table)
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd
import torch

from .tasks import FAMILIES, HARD_FAMILIES, TOOL_FAMILIES, TOOL_FUNCTIONS, TOOLS, Problem, make_problems, score
from .tokenizer import END_THINK, END_TOOL_CALL, THINK, TOOL_CALL

DEFAULT_BUDGETS: tuple[int, ...] = (0, 4, 8, 16, 32, 64)
TOKEN_CLASSES = ("digit", "letter", "space", "punct", "special")
EVAL_SEED = 4321  # training draws from seeds 0, 1 and 2; evaluation problems come from this one


@dataclass
class EvalReport:
    """``modes``: per family (plus "hard" and "all") and mode: n, accuracy (%) and mean thinking tokens;
    ``table``: the accuracies as one row per family; ``load``: (L, E) shares of each layer's routed slots.

    Modes: ``thinking``, ``non_thinking``, ``bN`` (budget N), ``two_turn`` (asked after an earlier question
    and its answer, thinking) for head families; for tool families
    ``thinking`` / ``non_thinking`` are with the tool offered and ``no_tools_thinking`` /
    ``no_tools_non_thinking`` without it.
    """

    modes: dict[str, dict[str, dict]]
    load: torch.Tensor  # (L, E)
    layer_types: list[str]
    specialisation: pd.DataFrame  # rows: layers, columns: token classes, values: favourite share / (k/E)
    seconds: float
    extras: dict = field(default_factory=dict)

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
        order = ["n", "thinking", "non_thinking", *[c for c in table.columns if c.startswith("b")], "two_turn",
                 *[c for c in table.columns if c.startswith("no_tools")], "think_tokens"]
        return table[[c for c in order if c in table.columns]]

    @property
    def dead_experts(self) -> list[int]:
        """Per layer, how many experts are dead (``qnext_lab.analysis.load.DEAD_SHARE``)."""
        from qnext_lab.analysis.load import dead_mask

        return dead_mask(self.load).sum(dim=1).tolist()

    def to_json(self) -> dict:
        """Per family and mode: n, accuracy (%), mean thinking tokens; per layer: expert load min/max/dead."""
        E = self.load.shape[1]
        load = [{"layer": i, "type": t, "min": round(float(r.min()) * E, 3), "max": round(float(r.max()) * E, 3),
                 "dead": int(d)} for i, (t, r, d) in enumerate(zip(self.layer_types, self.load, self.dead_experts))]
        spec = {c: [None if _nan(v) else round(float(v), 2) for v in self.specialisation[c]] for c in self.specialisation}
        families = {f: {mode: {k: round(v, 2) if isinstance(v, float) else v for k, v in m.items()}
                        for mode, m in modes.items()} for f, modes in self.modes.items()}
        return {"families": families, "expert_load": load, "specialisation": spec,
                "seconds": round(self.seconds, 1), **{k: v for k, v in self.extras.items() if k != "generations"}}

    def format(self) -> str:
        lines = [self.table.to_string(float_format=lambda x: f"{x:.1f}")]
        for row in self.to_json()["expert_load"]:
            lines.append(f"layer {row['layer']} ({row['type']}): expert load min {row['min']:.2f}x max "
                         f"{row['max']:.2f}x of uniform, dead {row['dead']}")
        lines.append("specialisation (favourite expert's share / uniform k/E):")
        lines.append(self.specialisation.to_string(float_format=lambda x: f"{x:.2f}"))
        lines.append(f"evaluated in {self.seconds:.0f} s")
        return "\n".join(lines)


def _nan(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


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
    """Expert load (L, E) and specialisation per layer and token class over ``texts`` (padding excluded).

    Routing is recorded with ``qnext_lab.capture`` and summed up with ``qnext_lab.analysis`` (load shares;
    label specialisation with one label per token: its character class).
    """
    from qnext_lab.analysis.labels import label_specialization
    from qnext_lab.analysis.load import routed_shares
    from qnext_lab.trace.capturing import capture
    from qnext_lab.trace.routing_trace import RoutingTrace

    traces = []
    for start in range(0, len(texts), batch_size):
        enc = tokenizer(list(texts[start : start + batch_size]), return_tensors="pt", padding=True,
                        add_special_tokens=False)
        with capture(model) as trace:
            model(**enc, use_cache=False)
        traces.append(trace)
    trace = RoutingTrace.concat(traces) if len(traces) > 1 else traces[0]
    load = routed_shares(trace.topk_ids, trace.num_experts).float()  # (L, E)
    classes = [_token_class(t) for t in tokenizer.convert_ids_to_tokens(trace.token_ids.tolist())]
    spec_rows = label_specialization(trace, classes, per="token")
    favourite = spec_rows.groupby(["layer", "label"])["ratio"].max().unstack("label")  # (L, C)
    spec = favourite.reindex(columns=list(TOKEN_CLASSES)).reset_index(drop=True)
    spec.index.name = "layer"
    return load, spec


def _tool_call(text: str) -> dict | None:
    """The first Qwen3 ``<tool_call>`` JSON object in ``text`` (None when there is none or it is malformed)."""
    if TOOL_CALL not in text:
        return None
    body = text.split(TOOL_CALL, 1)[1].split(END_TOOL_CALL, 1)[0].strip()
    try:
        call = json.loads(body)
    except json.JSONDecodeError:
        return None
    return call if isinstance(call, dict) and isinstance(call.get("arguments"), dict) else None


@torch.no_grad()
def _agent_answers(model, tokenizer, problems: Sequence[Problem], thinking: bool, batch_size: int,
                   max_new_tokens: int = 120) -> list[dict]:
    """INTERIM agent loop until ``qnext_lab.run_agent`` lands: generate, run the tool call, answer.

    Batched greedy ``model.generate`` on the bundled chat template with the problem's tool offered; a turn
    with a well-formed call to a known tool gets its result as a ``tool`` message, then one more turn.
    """
    out = []
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")

    def gen(chats: list[list[dict]], tools: list[list[dict]]) -> list[str]:
        texts = [tokenizer.apply_chat_template(c, tools=t, tokenize=False, add_generation_prompt=True,
                                               enable_thinking=thinking) for c, t in zip(chats, tools)]
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        ids = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=eos,
                             pad_token_id=tokenizer.pad_token_id)
        return [tokenizer.decode(row[enc["input_ids"].shape[1]:]).replace(tokenizer.pad_token, "").split("<|im_end|>")[0]
                for row in ids]

    for start in range(0, len(problems), batch_size):
        chunk = problems[start : start + batch_size]
        chats = [[{"role": "user", "content": p.question}] for p in chunk]
        tools = [[TOOLS[p.tool]] for p in chunk]
        first = gen(chats, tools)
        follow = []
        for i, (p, text) in enumerate(zip(chunk, first)):
            call = _tool_call(text)
            rec = {"call": call, "first": text, "answer_text": text}
            if call is not None and call.get("name") in TOOL_FUNCTIONS:
                try:
                    result = str(TOOL_FUNCTIONS[call["name"]](**call["arguments"]))
                except TypeError as err:  # wrong argument names: the tool says so, as a real one would
                    result = f"error: {err}"
                chats[i] += [{"role": "assistant", "content": text}, {"role": "tool", "content": result}]
                follow.append(i)
            out.append(rec)
        if follow:
            second = gen([chats[i] for i in follow], [tools[i] for i in follow])
            for i, text in zip(follow, second):
                out[start + i]["answer_text"] = text
    for rec in out:
        first = rec["first"]
        rec["thinking_tokens"] = (len(tokenizer(first.split(END_THINK)[0].split(THINK)[-1], add_special_tokens=False)
                                      ["input_ids"]) if thinking and END_THINK in first else 0)
    return out


def _two_turn(model, tokenizer, problems: Sequence[Problem], batch_size: int, say: Callable) -> dict[int, tuple[bool, int]]:
    """Each problem asked second, after the previous problem and its right answer (thinking mode)."""
    from qnext_lab.thinking.generation import generate_batch

    start, gens = time.time(), []
    chats = [[{"role": "user", "content": problems[i - 1].question},
              {"role": "assistant", "content": problems[i - 1].answer},
              {"role": "user", "content": p.question}] for i, p in enumerate(problems)]
    for i in range(0, len(chats), batch_size):
        gens += generate_batch(model, tokenizer, chats[i : i + batch_size], thinking=True, max_new_tokens=160)
    say(f"two-turn chats: {time.time() - start:.1f} s")
    return {i: (score(p, g.answer), g.thinking_tokens) for i, (p, g) in enumerate(zip(problems, gens))}


def _tool_results(model, tokenizer, problems: Sequence[Problem], batch_size: int, say: Callable
                  ) -> tuple[dict[str, list[tuple[bool, int]]], list[str], dict[str, float]]:
    """Per mode (tool offered: ``thinking`` / ``non_thinking``; not: ``no_tools_*``) and problem: (right?,
    thinking tokens); the thinking transcripts without tools; % of exactly right tool calls per offered mode."""
    from qnext_lab.thinking.generation import generate_batch

    results: dict[str, list[tuple[bool, int]]] = {}
    calls: dict[str, float] = {}
    transcripts: list[str] = []
    for thinking in (True, False):
        mode, start = ("thinking" if thinking else "non_thinking"), time.time()
        recs = _agent_answers(model, tokenizer, problems, thinking, batch_size)
        results[mode] = [(score(p, r["answer_text"]), r["thinking_tokens"]) for p, r in zip(problems, recs)]
        calls[mode] = round(100 * sum(r["call"] == p.tool_call for p, r in zip(problems, recs)) / len(recs), 2)
        say(f"tool offered, {mode}: {time.time() - start:.1f} s")
    for thinking in (True, False):
        mode, start, gens = ("no_tools_thinking" if thinking else "no_tools_non_thinking"), time.time(), []
        for i in range(0, len(problems), batch_size):
            gens += generate_batch(model, tokenizer, [p.question for p in problems[i : i + batch_size]],
                                   thinking=thinking, max_new_tokens=160)
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
) -> EvalReport:
    """Accuracy table (per family and mode, mean thinking tokens) + expert load and specialisation."""
    from qnext_lab.thinking.sweep import sweep_budget

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
        _, gens = sweep_budget(model, tokenizer, head, [*budgets, None], score=score, batch_size=batch_size,
                               return_generations=True, progress=say, max_new_tokens=160)
        for key, rows in gens.items():
            mode = {None: "thinking", "non-thinking": "non_thinking"}.get(key, f"b{key}")
            results[mode] = {i: (score(p, g.answer), g.thinking_tokens) for i, (p, g) in enumerate(zip(head, rows))}
        transcripts += [g.prompt + g.text for g in gens[None]]
        extras["generations"] = gens
        results["two_turn"] = _two_turn(model, tokenizer, head, batch_size, say)
    if tool:
        recs, texts, calls = _tool_results(model, tokenizer, tool, batch_size, say)
        for mode, rows in recs.items():
            results.setdefault(mode, {}).update({len(head) + i: r for i, r in enumerate(rows)})
        transcripts += texts
        extras["right_tool_call"] = calls
    groups = {f: [i for i, p in enumerate(order) if p.family == f] for f in FAMILIES}
    groups = {f: idx for f, idx in groups.items() if idx}
    groups["hard"] = [i for i, p in enumerate(order) if p.family in HARD_FAMILIES]
    groups["all"] = list(range(len(order)))
    modes: dict[str, dict[str, dict]] = {}
    for name, idx in groups.items():
        for mode, per in results.items():
            got = [per[i] for i in idx if i in per]
            if got:
                modes.setdefault(name, {})[mode] = {"n": len(got), "accuracy": 100 * sum(r for r, _ in got) / len(got),
                                                    "think_tokens": sum(t for _, t in got) / len(got)}
    load, spec = routing_stats(model, tokenizer, transcripts)
    layer_types = list(getattr(model.config, "layer_types", [""] * load.shape[0]))
    return EvalReport(modes, load, layer_types, spec, time.time() - start, extras=extras)


def main(argv: list[str] | None = None) -> EvalReport:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .paths import tiny_path

    p = argparse.ArgumentParser(description="Evaluate the bundled qnext-tiny model on held-out problems.")
    p.add_argument("--seed", type=int, default=EVAL_SEED, help="problem seed (training used 0, 1 and 2)")
    p.add_argument("--n", type=int, default=500, help="problems, cycling through every family (tool use included)")
    p.add_argument("--path", default=None, help="checkpoint directory (default: the bundled one)")
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None, help="also write the evaluation as JSON to this path")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    path = a.path or tiny_path()
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    report = evaluate(model, tokenizer, make_problems(a.n, seed=a.seed, families=list(FAMILIES)),
                      batch_size=a.batch_size)
    print(report.format())
    if a.json:
        data = {"seed": a.seed, "n": a.n, "checkpoint": str(path), **report.to_json()}
        pathlib.Path(a.json).write_text(json.dumps(data, indent=1))
        print(f"wrote {a.json}")
    return report


if __name__ == "__main__":
    main()
