"""Widgets and a notebook cell on one model at once: no deadlock, and every caller gets its solo result.

ThinkCompare streams on its worker while the stream's own thread generates; the model lock
(``trace.lock``) is taken by that generating thread, not by the worker that waits for it, so a cell's
``capture`` beside it simply waits its turn and then holds exactly its own forward.
"""

from __future__ import annotations

import torch

from qnext_lab.thinking.generation import generate
from qnext_lab.trace.capturing import capture
from qnext_lab.widgets.think_compare import ThinkCompare

PROMPT = "What is 12 + 30?"


def same_trace(a, b) -> bool:
    return (
        a.layer_indices == b.layer_indices
        and torch.equal(a.token_ids, b.token_ids)
        and torch.equal(a.topk_ids, b.topk_ids)
        and torch.equal(a.topk_weights, b.topk_weights)
    )


def test_cell_capture_beside_a_streaming_widget(model_and_tokenizer):
    model, tok = model_and_tokenizer
    ids = tok("What is 5 + 5?", return_tensors="pt")["input_ids"]
    with torch.no_grad(), capture(model) as alone:
        model(input_ids=ids)
    solo = [generate(model, tok, PROMPT, thinking=t, max_new_tokens=12, capture=True) for t in (True, False)]
    for _ in range(2):
        view = ThinkCompare(model, tok, PROMPT, max_new_tokens=12)
        captured = []
        while not view.wait(0.01):  # the cell keeps capturing single forwards while the widget streams
            with torch.no_grad(), capture(model, timeout=60) as trace:
                model(input_ids=ids)
            captured.append(trace)
        assert view.status == "done", view.errors.outputs
        assert captured and all(same_trace(t, alone) for t in captured)
        for got, want in zip(view.results, solo):
            assert got.token_ids == want.token_ids
            assert same_trace(got.trace, want.trace)
