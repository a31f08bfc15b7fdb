"""Training examples for qnext-tiny: chat token ids with the loss mask on the assistant turn only.

Each problem is shown in one of three forms, as the model must behave in the kit:
- ``think``: prompt ends at the assistant header; the model writes ``<think>\\n`` trace ``\\n</think>\\n\\n``
  answer. ``<think>\\n`` itself is in the loss so thinking mode opens a real think block.
- ``nothink``: the empty ``<think>\\n\\n</think>\\n\\n`` block is in the (masked) prompt, as
  ``enable_thinking=False`` renders it; the model only learns the answer. Keeping that block out of the loss
  is what stops the model closing its think block at once in thinking mode.
- ``cut``: the trace stops at a random character, the stop-thinking text follows (masked: at inference a
  budget processor forces it), then the answer, so the model answers from partial work under a budget.
Knows nothing about the model; it turns Problems into padded tensors.

    batch = make_batch(tokenizer, rng, batch_size=32, level=1.0)
    input_ids, labels = batch  # (B, T), (B, T) with -100 outside the assistant turn
"""

from __future__ import annotations

import random

import torch
from transformers import PreTrainedTokenizerBase

from .paths import STOP_TEXT
from .tasks import FAMILIES, Problem, generate_problem
from .tokenizer import END_THINK, IM_END, THINK, prompt_text

MODES = ("think", "nothink", "cut")
MODE_WEIGHTS = (0.45, 0.3, 0.25)
# hard families get more of the data: they are what the thinking trace is for
FAMILY_WEIGHTS = {"add": 0.24, "arith": 0.2, "count": 0.32, "compare": 0.1, "sort": 0.14}
IGNORE = -100


def render_example(problem: Problem, mode: str, rng: random.Random) -> tuple[str, str, list[tuple[str, bool]]]:
    """(prompt, mode, target pieces) where each piece is (text, in_loss)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    question = problem.question
    # a few prompts carry Qwen3's soft switch so the template path the kit uses appears in training
    r = rng.random()
    if r < 0.05:
        question += " /no_think"
        mode = "nothink"
    elif r < 0.1:
        question += " /think"
        mode = "think" if mode == "nothink" else mode
    answer = [(problem.answer + IM_END, True)]
    if mode == "nothink":
        return prompt_text(question, thinking=False), mode, answer
    prompt = prompt_text(question, thinking=True)
    if mode == "think":
        return prompt, mode, [(f"{THINK}\n{problem.thinking}\n{END_THINK}\n\n", True), *answer]
    cut = rng.randint(0, len(problem.thinking) - 1)
    return prompt, mode, [(f"{THINK}\n{problem.thinking[:cut]}", True), (STOP_TEXT, False), *answer]


def encode_example(
    tokenizer: PreTrainedTokenizerBase, prompt: str, pieces: list[tuple[str, bool]]
) -> tuple[list[int], list[int]]:
    """Token ids and labels (IGNORE where not in the loss) of one example."""
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    labels = [IGNORE] * len(ids)
    for text, in_loss in pieces:
        piece = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids += piece
        labels += piece if in_loss else [IGNORE] * len(piece)
    return ids, labels


def make_batch(
    tokenizer: PreTrainedTokenizerBase, rng: random.Random, batch_size: int, level: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """A right-padded batch: input_ids (B, T) and labels (B, T), shifted inside the model's loss."""
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    fams, weights = list(FAMILY_WEIGHTS), list(FAMILY_WEIGHTS.values())
    assert set(fams) == set(FAMILIES), "FAMILY_WEIGHTS must cover every family"
    rows = []
    for _ in range(batch_size):
        problem = generate_problem(rng.choices(fams, weights)[0], rng, level)
        prompt, _, pieces = render_example(problem, rng.choices(MODES, MODE_WEIGHTS)[0], rng)
        rows.append(encode_example(tokenizer, prompt, pieces))
    T = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((batch_size, T), tokenizer.pad_token_id, dtype=torch.long)  # (B, T)
    labels = torch.full((batch_size, T), IGNORE, dtype=torch.long)  # (B, T)
    for b, (ids, lab) in enumerate(rows):
        input_ids[b, : len(ids)] = torch.tensor(ids)
        labels[b, : len(lab)] = torch.tensor(lab)
    return input_ids, labels
