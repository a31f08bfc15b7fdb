"""Evaluation JSON and model card on a small random model: every family and mode, load from the one home."""

from __future__ import annotations

import ast
import json
import pathlib

import pytest
import torch
from transformers import Qwen3NextForCausalLM

from qnext_lab.tiny.model import TinyArch, tiny_config
from qnext_lab.tiny.tasks import FAMILIES, make_problems
from qnext_lab.tiny.tokenizer import IM_END, build_tokenizer

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

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # one thread per test, restored after it


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    from qnext_lab.tiny.train import generation_config

    torch.manual_seed(0)
    tok = build_tokenizer()
    model = Qwen3NextForCausalLM(
        tiny_config(len(tok), SMALL, pad_token_id=tok.pad_token_id, eos_token_id=tok.convert_tokens_to_ids(IM_END))
    ).eval()
    model.generation_config = generation_config(tok)
    path = tmp_path_factory.mktemp("small")
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return model, tok, path


def test_eval_json_has_every_family_and_mode_and_the_card_renders_it(small):
    from qnext_lab.analysis.load import DEAD_SHARE, routed_shares
    from qnext_lab.tiny.card import targets, write_card
    from qnext_lab.tiny.eval import evaluate

    model, tok, path = small
    report = evaluate(
        model,
        tok,
        make_problems(12, seed=5, families=list(FAMILIES)),
        budgets=(0, 8),
        batch_size=12,
        progress=None,
        max_new_tokens=24,
    )
    data = {"seed": 5, "n": 12, **report.to_json()}
    data = json.loads(json.dumps(data))  # what --json writes is plain JSON
    fams = data["families"]
    assert set(fams) == set(FAMILIES) | {"hard", "all"}
    assert set(fams["add"]) == {"thinking", "non_thinking", "b0", "b8", "two_turn"}
    assert set(fams["mul"]) == {"thinking", "non_thinking", "no_tools_thinking", "no_tools_non_thinking"}
    for modes in fams.values():
        for m in modes.values():
            assert 0 <= m["accuracy"] <= 100 and m["think_tokens"] >= 0 and m["n"] >= 1
    assert fams["add"]["b8"]["think_tokens"] <= 8 and fams["add"]["non_thinking"]["think_tokens"] == 0
    assert [row["layer"] for row in data["expert_load"]] == [0, 1, 2, 3]
    for row, shares in zip(data["expert_load"], report.load):
        assert abs(row["min"] - float(shares.min()) * 8) < 1e-3 and row["dead"] == int((shares < DEAD_SHARE / 8).sum())
    assert torch.allclose(report.load.sum(1), torch.ones(4))
    assert report.load.shape == routed_shares(torch.zeros(4, 1, 2, dtype=torch.long), 8).shape
    assert sum(sum(sum(c) for c in layer) for layer in data["routing_counts"]) > 0
    names = [name for name, _, _ in targets(data)]
    assert any("mul" in n for n in names) and any("two-turn" in n for n in names)
    text = write_card(path, data).read_text()
    assert "| mul | 2 |" in text and "no_tools_thinking" in text and "seed 5" in text


def test_evaluations_of_disjoint_families_merge_into_the_whole(small):
    from qnext_lab.tiny.eval import EvalReport, evaluate, merge

    model, tok, _ = small
    problems = make_problems(6, seed=9, families=["add", "count", "sort"])
    kw = dict(budgets=(0,), batch_size=6, progress=None, max_new_tokens=16)
    whole = evaluate(model, tok, problems, **kw)
    parts = [
        evaluate(model, tok, [p for p in problems if p.family in fams], **kw) for fams in (("add",), ("count", "sort"))
    ]
    parts[0].extras["part"], parts[1].extras["part"] = {"families": "add"}, {"families": "count,sort"}
    merged = merge([EvalReport.from_json(json.loads(json.dumps(r.to_json()))) for r in parts])
    assert torch.equal(merged.counts, whole.counts)
    for group in ("hard", "all"):
        for mode, m in whole.modes[group].items():
            assert merged.modes[group][mode]["n"] == m["n"]
            assert abs(merged.modes[group][mode]["accuracy"] - m["accuracy"]) < 1e-9
    with pytest.raises(ValueError, match="disjoint"):
        merge([parts[0], parts[0]])


def test_card_and_eval_do_not_import_each_other():
    root = pathlib.Path(__file__).resolve().parents[2] / "qnext_lab" / "tiny"
    for name, other in (("card", "eval"), ("eval", "card")):
        tree = ast.parse((root / f"{name}.py").read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert other not in imported and f"qnext_lab.tiny.{other}" not in imported, (name, imported)


def test_card_refuses_what_is_not_an_eval_json(small, tmp_path):
    from qnext_lab.tiny.card import write_card

    with pytest.raises(ValueError, match="--json"):
        write_card(small[2], {"table": []})
    with pytest.raises(FileNotFoundError):
        write_card(tmp_path, {"families": {}, "expert_load": []})
