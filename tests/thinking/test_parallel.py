"""One budget spent two ways: the vote, the flips, and split_budget on the bundled model (seeded, equal totals)."""

from __future__ import annotations

import pandas as pd
import pytest

from qnext_lab.figures import flips_figure, split_budget_figure
from qnext_lab.thinking.parallel import budget_flips, majority_vote, split_budget
from qnext_lab.tiny.paths import tiny_path
from qnext_lab.tiny.tasks import make_problems, score


def test_majority_vote_counts_stripped_answers_and_breaks_ties_by_first_chain():
    assert majority_vote(["12", " 13", "13 "]) == " 13"
    assert majority_vote(["7", "8"]) == "7"  # tie: the first chain's answer
    assert majority_vote(["8", "7", "7", "8"]) == "8"
    assert majority_vote(["", "", "5"]) == "5"  # empty answers do not vote
    assert majority_vote(["", ""]) == ""
    with pytest.raises(TypeError):
        majority_vote("12")


def table(rows):
    cols = ["problem", "family", "question", "total_budget", "chains", "right", "voted"]
    return pd.DataFrame(rows, columns=cols)


def test_flips_go_both_ways():
    t = table(
        [
            (0, "add", "What is 1 + 2?", 16, 1, False, "4"),
            (0, "add", "What is 1 + 2?", 32, 1, True, "3"),
            (0, "add", "What is 1 + 2?", 64, 1, False, "5"),
            (1, "add", "<b>x</b>", 16, 1, True, "1"),
            (1, "add", "<b>x</b>", 32, 1, True, "1"),
            (1, "add", "<b>x</b>", 64, 1, True, "1"),
        ]
    )
    flips = budget_flips(t)
    assert flips[["problem", "from_budget", "to_budget", "change"]].values.tolist() == [
        [0, 16, 32, "wrong -> right"],
        [0, 32, 64, "right -> wrong"],
    ]
    fig = flips_figure(t, chains=1)
    assert "1 wrong -> right, 1 right -> wrong" in fig.layout.title.text
    assert all("<b>" not in label for label in fig.data[0].y)  # question text is escaped
    assert split_budget_figure(t).data[0].y == (1 / 2, 1.0, 1 / 2)
    with pytest.raises(ValueError, match="chains=4"):
        flips_figure(t, chains=4)
    with pytest.raises(TypeError):
        budget_flips(pd.DataFrame({"x": [1]}))


@pytest.mark.skipif(not (tiny_path(check=False) / "config.json").is_file(), reason="bundled qnext-tiny not trained")
def test_split_budget_on_the_bundled_model_is_seeded_and_spends_equal_totals():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = tiny_path()
    model, tok = AutoModelForCausalLM.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)
    problems = make_problems(3, seed=8, families=["add"])
    run = lambda seed: split_budget(model, tok, problems, score, total_budgets=[8], chains=[1, 2], seed=seed)  # noqa: E731
    a, b = run(0), run(0)
    pd.testing.assert_frame_equal(a, b)  # fixed seeds: the same samples
    assert a.chain_budget.tolist() == [8, 8, 8, 4, 4, 4]
    assert (a.thinking_tokens <= a.total_budget).all()  # never more than the total, however it is split
    assert [len(x) for x in a.answers] == [1, 1, 1, 2, 2, 2]
    assert a.right.tolist() == [bool(score(p, v)) for p, v in zip(problems * 2, a.voted)]
    with pytest.raises(ValueError, match="leaves 0 tokens per chain"):
        split_budget(model, tok, problems, score, total_budgets=[2], chains=[4])
