"""Training examples for qnext-tiny: chat token ids with the loss mask on what the model must write.

Each problem is shown in one of three forms, as the model must behave in the kit:
- ``think``: prompt ends at the assistant header; the model writes ``<think>\\n`` trace ``\\n</think>\\n\\n``
  answer. ``<think>\\n`` itself is in the loss so thinking mode opens a real think block.
- ``nothink``: the empty ``<think>\\n\\n</think>\\n\\n`` block is in the (masked) prompt, as
  ``enable_thinking=False`` renders it; the model only learns the answer. Keeping that block out of the loss
  is what stops the model closing its think block at once in thinking mode.
- ``cut``: the trace stops at a random character, the stop-thinking text follows (masked: at inference a
  budget processor forces it), then the answer, so the model answers from partial work under a budget.

Beside single questions (``render_example``) come the chat shapes the kit uses (``KINDS``):
- ``two_turn``: an earlier question and its bare answer (Qwen3's template drops earlier thinking), then the
  question trained on, in any of the three forms;
- ``tools_other``: tools offered but not needed (a non-tool family): the model answers as usual;
- ``tool``: a tool-family problem with its tool offered: the model writes a Qwen3 ``<tool_call>``, the
  ``<tool_response>`` comes in a (masked) user turn, then the model answers from it;
- ``no_tool``: a tool-family problem with no tools offered: the model says it has no tool and guesses.
Every text is exactly what the bundled chat template renders for the same messages (tests check this).
Knows nothing about the model; it turns Problems into padded tensors.

    batch = make_batch(tokenizer, rng, batch_size=32, level=1.0)
    input_ids, labels = batch  # (B, T), (B, T) with -100 outside the assistant turns
"""

from __future__ import annotations

import random

import torch
from transformers import PreTrainedTokenizerBase

from .paths import STOP_TEXT
from .tasks import HEAD_FAMILIES, TOOL_FAMILIES, TOOLS, Problem, generate_problem
from .tokenizer import END_THINK, IM_END, IM_START, THINK, prompt_text, tool_call_text, tool_response_text

MODES = ("think", "nothink", "cut")
MODE_WEIGHTS = (0.55, 0.2, 0.25)
# hard families get more of the data: they are what the thinking trace is for
FAMILY_WEIGHTS = {"add": 0.44, "arith": 0.3, "count": 0.14, "compare": 0.05, "sort": 0.07}
KINDS = ("single", "two_turn", "tools_other", "tool", "no_tool")
KIND_WEIGHTS = (0.6, 0.2, 0.04, 0.12, 0.04)
# the short thinking of a tool turn: before the call, and after reading the response
TOOL_THINKING = ("Call {tool}.", "Read the result.")
IGNORE = -100
Pieces = list[tuple[str, bool]]


def _soft_switch(question: str, mode: str, rng: random.Random) -> tuple[str, str]:
    """A few prompts carry Qwen3's soft switch so the template path the kit uses appears in training."""
    r = rng.random()
    if r < 0.05:
        return question + " /no_think", "nothink"
    if r < 0.1:
        return question + " /think", "think" if mode == "nothink" else mode
    return question, mode


def _answer_turn(problem: Problem, mode: str, rng: random.Random) -> Pieces:
    """What the model writes after the assistant header (nothink: after the empty think block)."""
    answer = [(problem.answer + IM_END, True)]
    if mode == "nothink":
        return answer
    if mode == "think":
        return [(f"{THINK}\n{problem.thinking}\n{END_THINK}\n\n", True), *answer]
    cut = rng.randint(0, len(problem.thinking) - 1)
    return [(f"{THINK}\n{problem.thinking[:cut]}", True), (STOP_TEXT, False), *answer]


def render_example(problem: Problem, mode: str, rng: random.Random) -> tuple[str, str, Pieces]:
    """(prompt, mode, target pieces) of one question, where each piece is (text, in_loss)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    question, mode = _soft_switch(problem.question, mode, rng)
    return prompt_text(question, thinking=mode != "nothink"), mode, _answer_turn(problem, mode, rng)


def render_two_turn(first: Problem, problem: Problem, mode: str, rng: random.Random) -> tuple[str, str, Pieces]:
    """``first`` asked and answered (bare answer: earlier thinking is dropped), then ``problem`` in ``mode``."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    history = prompt_text(first.question)[: -len(f"{IM_START}assistant\n")]
    history += f"{IM_START}assistant\n{first.answer}{IM_END}\n"
    prompt = history + prompt_text(problem.question, thinking=mode != "nothink")
    return prompt, mode, _answer_turn(problem, mode, rng)


def _tool_list(problem: Problem, rng: random.Random, need: str | None) -> list[dict]:
    """Zero to two distractor tools around ``need`` (when given), in random order."""
    others = [name for name in TOOLS if name != need]
    names = rng.sample(others, rng.choice((0, 0, 1, 2))) + ([need] if need else [])
    if not names:
        names = [rng.choice(others)]
    rng.shuffle(names)
    return [TOOLS[n] for n in names]


def render_tool_example(problem: Problem, kind: str, mode: str, rng: random.Random) -> tuple[str, str, Pieces]:
    """One example of ``kind`` in ``("tools_other", "tool", "no_tool")``; ``mode`` is think or nothink."""
    if mode not in ("think", "nothink"):
        raise ValueError(f"mode must be think or nothink for tool examples, got {mode!r}")
    thinking = mode == "think"
    if kind == "no_tool":
        if problem.tool is None:
            raise ValueError(f"no_tool examples need a tool-family problem, got {problem.family!r}")
        return prompt_text(problem.question, thinking), mode, _answer_turn(problem, mode, rng)
    if kind == "tools_other":
        tools = _tool_list(problem, rng, need=None)
        return prompt_text(problem.question, thinking, tools=tools), mode, _answer_turn(problem, mode, rng)
    if kind != "tool" or problem.tool is None:
        raise ValueError(f"kind must be tools_other, tool or no_tool (tool needs a tool family), got {kind!r}")
    tools = _tool_list(problem, rng, need=problem.tool)
    call = tool_call_text(problem.tool, dict(problem.arguments)) + IM_END
    response = tool_response_text(problem.answer) + f"{IM_START}assistant\n"
    before, after = (t.format(tool=problem.tool) for t in TOOL_THINKING)
    if thinking:  # the template keeps the reasoning of a turn after the last user query: one text throughout
        return (
            prompt_text(problem.question, True, tools=tools),
            mode,
            [
                (f"{THINK}\n{before}\n{END_THINK}\n\n{call}", True),
                ("\n" + response, False),
                (f"{THINK}\n{after}\n{END_THINK}\n\n{problem.answer}{IM_END}", True),
            ],
        )
    # non-thinking: the call is made after the empty think block the generation prompt adds ...
    if rng.random() < 0.5:
        return prompt_text(problem.question, False, tools=tools), mode, [(call, True)]
    # ... but re-rendered without it once the response is in (Qwen3's template): train only the answer there
    prompt = prompt_text(problem.question, True, tools=tools) + call + "\n" + response
    return prompt, mode, [(f"{THINK}\n\n{END_THINK}\n\n", False), (problem.answer + IM_END, True)]


def encode_example(tokenizer: PreTrainedTokenizerBase, prompt: str, pieces: Pieces) -> tuple[list[int], list[int]]:
    """Token ids and labels (IGNORE where not in the loss) of one example."""
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    labels = [IGNORE] * len(ids)
    for text, in_loss in pieces:
        piece = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids += piece
        labels += piece if in_loss else [IGNORE] * len(piece)
    return ids, labels


def sample_example(rng: random.Random, level: float = 1.0) -> tuple[str, str, Pieces]:
    """One training example drawn from the mix (kinds, families, modes)."""
    fams, weights = list(FAMILY_WEIGHTS), list(FAMILY_WEIGHTS.values())
    assert set(fams) == set(HEAD_FAMILIES), "FAMILY_WEIGHTS must cover every family answered without a tool"
    kind = rng.choices(KINDS, KIND_WEIGHTS)[0]
    if kind in ("tool", "no_tool"):
        problem = generate_problem(rng.choice(list(TOOL_FAMILIES)), rng, level)
        return render_tool_example(problem, kind, rng.choice(("think", "nothink")), rng)
    problem = generate_problem(rng.choices(fams, weights)[0], rng, level)
    if kind == "tools_other":
        return render_tool_example(problem, kind, rng.choice(("think", "nothink")), rng)
    mode = rng.choices(MODES, MODE_WEIGHTS)[0]
    if kind == "two_turn":
        first = generate_problem(rng.choice(list(HEAD_FAMILIES)), rng, level)
        return render_two_turn(first, problem, mode, rng)
    return render_example(problem, mode, rng)


def make_batch(
    tokenizer: PreTrainedTokenizerBase, rng: random.Random, batch_size: int, level: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """A right-padded batch: input_ids (B, T) and labels (B, T), shifted inside the model's loss."""
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    return _pad(
        tokenizer, [encode_example(tokenizer, *_drop_mode(sample_example(rng, level))) for _ in range(batch_size)]
    )


def make_batches(
    tokenizer: PreTrainedTokenizerBase, rng: random.Random, batch_size: int, level: float = 1.0, group: int = 4
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``group`` batches from ``group * batch_size`` examples sorted by length, in random order.

    Tool chats are about twice as long as single questions; batching similar lengths together roughly
    halves the padding a CPU step computes, with the same examples overall.
    """
    if batch_size <= 0 or group <= 0:
        raise ValueError(f"batch_size and group must be positive, got {batch_size}, {group}")
    rows = [encode_example(tokenizer, *_drop_mode(sample_example(rng, level))) for _ in range(group * batch_size)]
    rows.sort(key=lambda r: len(r[0]))
    batches = [_pad(tokenizer, rows[i : i + batch_size]) for i in range(0, len(rows), batch_size)]
    rng.shuffle(batches)
    return batches


def _drop_mode(example: tuple[str, str, Pieces]) -> tuple[str, Pieces]:
    prompt, _, pieces = example
    return prompt, pieces


def _pad(
    tokenizer: PreTrainedTokenizerBase, rows: list[tuple[list[int], list[int]]]
) -> tuple[torch.Tensor, torch.Tensor]:
    batch_size, T = len(rows), max(len(ids) for ids, _ in rows)
    input_ids = torch.full((batch_size, T), tokenizer.pad_token_id, dtype=torch.long)  # (B, T)
    labels = torch.full((batch_size, T), IGNORE, dtype=torch.long)  # (B, T)
    for b, (ids, lab) in enumerate(rows):
        input_ids[b, : len(ids)] = torch.tensor(ids)
        labels[b, : len(lab)] = torch.tensor(lab)
    return input_ids, labels
