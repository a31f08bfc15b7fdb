"""The recogniser agrees with the task generator on every problem it makes and refuses everything else."""

from __future__ import annotations

import pytest

from qnext_lab.tiny.recognise import example_questions, known_families, recognise
from qnext_lab.tiny.tasks import FAMILIES, make_problems


@pytest.mark.parametrize("seed", range(5))
def test_every_generated_problem_is_recognised_with_its_family_and_answer(seed):
    for problem in make_problems(200, seed=seed, families=list(FAMILIES)):
        found = recognise(problem.question)
        assert found is not None, problem.question
        assert (found.family, found.answer) == (problem.family, problem.answer), problem.question


@pytest.mark.parametrize(
    "prompt",
    [
        "Hello, who are you?",
        "What is the capital of France?",
        "What is 478+356?",
        "what is 478 + 356?",
        "What is 4 + 5?",
        "Sort 1 1 2.",
        "Which is larger, 45 or 45?",
        "How many R in strawberry?",
        "",
        None,
        [{"role": "user", "content": "What is 12 + 30?"}],
    ],
)
def test_prompts_outside_the_training_formats_are_not_recognised(prompt):
    assert recognise(prompt) is None


def test_examples_cover_every_family_and_are_recognised():
    examples = example_questions()
    assert set(examples) == set(FAMILIES) == set(known_families())
    assert all(recognise(q).family == f for f, q in examples.items())
