"""The recogniser agrees with the task generator on every problem it makes and refuses everything else."""

from __future__ import annotations

import pytest

from qnext_lab.tiny.recognise import answer_key, example_questions, known_families, read_question, recognise
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


@pytest.mark.parametrize(
    ("prompt", "family", "answer", "detail"),
    [
        ("What is 8 + 5?", "add", "13", ("digits", 2, 4, 1)),  # was "meaningless"; the model may well answer 13
        ("What is 47856 + 35612?", "add", "83468", ("digits", 2, 4, 5)),  # was "trained": it learned 2-4 digits
        ("Sort 1 1 2.", "sort", "1 1 2", ("repeated",)),
        ("Which is larger, 45 or 145?", "compare", "145", ("lengths",)),
        ("What is 12 + 3 * 4?", "arith", "24", ("single", 1, 9, 12)),
    ],
)
def test_a_known_kind_of_question_at_an_untrained_size_is_a_near_miss(prompt, family, answer, detail):
    found = read_question(prompt)
    assert (found.family, found.answer, found.trained, found.detail) == (family, answer, False, detail)
    assert recognise(prompt) is None  # not a question it was trained on


def test_trained_questions_and_strangers():
    assert read_question("What is 478 + 356?").trained and read_question("What is 478 + 356?").answer == "834"
    stranger = read_question("Hello, who are you?")
    assert stranger.family is None and stranger.answer is None and stranger.trained is False
    key = answer_key()
    assert key.expected("What is 478 + 356?").exact and set(key.examples) == set(FAMILIES)
