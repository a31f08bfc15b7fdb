"""One rule for "the answer" and "is it right": the answer of a decoded turn, judging by the final words or
exactly, the budget-hit rule, and every caller (tasks.score, Generation.budget_hit, the views) using them."""

from __future__ import annotations

import pytest

from qnext_lab.thinking.verdict import Expected, answer_text, budget_closed, fixed_answer, is_right


def test_the_answer_is_after_the_last_think_block_and_before_the_end_of_turn():
    assert answer_text("<think>\n4+6=10\n</think>\n\n834<|im_end|>") == "834"
    assert answer_text("<think>a</think> x <think>b</think>\n 1  2 3 \n") == "1 2 3"
    assert answer_text("  834 ") == "834"
    with pytest.raises(TypeError, match="str"):
        answer_text(834)


@pytest.mark.parametrize(
    ("answer", "right"),
    [
        ("834", True),
        ("The sum is 834.", True),
        ("**834**", True),
        ("(834)", True),
        ("8345", False),
        ("834 or 835", False),
        ("834 is wrong, it is 835", False),
        ("-834", False),
        ("834.5", False),
        ("", False),
    ],
)
def test_an_answer_is_right_when_its_final_words_are_the_expected_answer(answer, right):
    assert is_right("834", answer) is right


def test_exact_judging_wants_the_answer_and_nothing_else():
    assert is_right("1 2 3", " 1  2\n3 ", exact=True)
    assert not is_right("834", "The sum is 834.", exact=True)
    with pytest.raises(ValueError, match="empty"):
        is_right("  ", "834")
    with pytest.raises(TypeError, match="answer"):
        is_right("834", 834)


def test_expected_knows_what_it_does_not_know():
    assert Expected().is_right("anything") is None
    assert fixed_answer(834).is_right("it is 834") and fixed_answer("834").answer == "834"
    with pytest.raises(TypeError, match="expected"):
        fixed_answer(True)
    with pytest.raises(ValueError, match="empty"):
        fixed_answer(" ")


def test_budget_hit_is_forced_text_inside_the_thinking():
    assert budget_closed([False, True, True], ["thinking", "thinking", "thinking"])
    assert not budget_closed([False, True], ["thinking", "answer"])  # forced answer text is not a budget cut
    assert not budget_closed([], [])


def test_the_task_scorer_and_the_generation_use_the_one_rule():
    import inspect

    from qnext_lab.thinking import result
    from qnext_lab.tiny import tasks

    p = tasks.make_problems(1, seed=0, families=["add"])[0]
    assert tasks.score(p, f"<think>x</think>\n{p.answer}<|im_end|>") and not tasks.score(p, f"it is {p.answer}")
    assert "budget_closed" in inspect.getsource(result)  # Generation.budget_hit and finish_reason: one rule
    assert "THINKING for" not in inspect.getsource(result)
