"""The shipped qnext-tiny checkpoint: loads with plain transformers, is small, and thinking helps."""

from __future__ import annotations

import pytest
import torch

from qnext_lab.tiny.paths import STOP_TEXT, tiny_path

pytestmark = [
    pytest.mark.skipif(not (tiny_path(check=False) / "config.json").is_file(), reason="not trained yet"),
    pytest.mark.usefixtures("one_torch_thread"),  # one thread per test, restored after it
]


def test_shipped_tree_is_a_small_plain_hf_directory():
    from transformers import AutoConfig, AutoTokenizer, GenerationConfig

    path = tiny_path()
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    assert size < 20 * 2**20, f"shipped tree is {size / 2**20:.1f} MB"
    assert not list(path.rglob("*.bin")) and not list(path.rglob("*.pt")), "only safetensors"
    cfg = AutoConfig.from_pretrained(path)
    assert cfg.model_type == "qwen3_next" and cfg.num_experts_per_tok > 1
    assert GenerationConfig.from_pretrained(path).thinking_stop_text == STOP_TEXT
    tok = AutoTokenizer.from_pretrained(path)
    assert tok.convert_ids_to_tokens(GenerationConfig.from_pretrained(path).eos_token_id) == "<|im_end|>"
    checkpoints = sorted((path / "checkpoints").iterdir())
    assert 2 <= len(checkpoints) <= 3 and all((c / "model.safetensors").is_file() for c in checkpoints)


def test_tiny_path_explains_how_to_train_when_missing(monkeypatch, tmp_path):
    import qnext_lab.runtime.bundled as bundled
    from qnext_lab.tiny.paths import tiny_path

    monkeypatch.setattr(bundled, "_TINY_DIR", tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match="qnext_lab.tiny.train"):
        tiny_path()


@pytest.mark.slow
def test_thinking_beats_non_thinking_on_hard_families():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from qnext_lab.tiny.eval import evaluate
    from qnext_lab.tiny.tasks import HARD_FAMILIES, make_problems

    path = tiny_path()
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(path)
    report = evaluate(model, tok, make_problems(50, seed=99, families=list(HARD_FAMILIES)), budgets=(), progress=None)
    hard = report.table.loc["hard"]
    # the model card (500 held-out problems, seed 4321) has hard families at 99.6% thinking, 30.7% non-thinking
    assert hard["thinking"] >= hard["non_thinking"] + 30, report.table
    assert hard["thinking"] >= 90, report.table


@pytest.fixture(scope="module")
def tiny():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = tiny_path()
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval(), AutoTokenizer.from_pretrained(path)


def test_shipped_model_multiplies_through_the_tool_and_guesses_without_it(tiny):
    from qnext_lab.thinking.agent import run_agent
    from qnext_lab.thinking.generation import generate_batch
    from qnext_lab.tiny.tasks import make_problems, multiply, score

    model, tok = tiny
    problems = make_problems(4, seed=77, families=["mul"])
    for p in problems:
        run = run_agent(model, tok, p.question, [multiply], capture=False, max_new_tokens=120)
        assert [(c.name, c.arguments) for c in run.tool_calls] == [("multiply", dict(p.arguments))], run
        assert score(p, run.answer), run
    bare = generate_batch(model, tok, [p.question for p in problems], thinking=True, max_new_tokens=80)
    assert sum(score(p, g.answer) for p, g in zip(problems, bare)) <= 1  # no tool: it cannot multiply
    assert not any("<tool_call>" in g.text for g in bare)  # and calls no tool it was not offered


def test_shipped_model_answers_a_second_question(tiny):
    from qnext_lab.thinking.generation import generate_batch
    from qnext_lab.tiny.tasks import make_problems, score

    model, tok = tiny
    problems = make_problems(11, seed=78)
    chats = [
        [
            {"role": "user", "content": a.question},
            {"role": "assistant", "content": a.answer},
            {"role": "user", "content": b.question},
        ]
        for a, b in zip(problems, problems[1:])
    ]
    gens = generate_batch(model, tok, chats, thinking=True, max_new_tokens=160)
    assert sum(score(p, g.answer) for p, g in zip(problems[1:], gens)) >= 7, [g.answer for g in gens]
