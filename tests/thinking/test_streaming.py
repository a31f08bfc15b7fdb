"""stream_generate(): pieces in order with phase labels and running counts that agree with the final
Generation; closing, leaving a ``with`` block or an interrupt stops generation cleanly."""

from __future__ import annotations

import gc
import threading

import pytest
import torch
from transformers import LogitsProcessorList

from qnext_lab.thinking.budget import ThinkingBudgetProcessor
from qnext_lab.thinking.generation import generate
from qnext_lab.thinking.phases import PRE
from qnext_lab.thinking.request import prepare
from qnext_lab.thinking.streaming import PhaseStreamer, stream_generate
from qnext_lab.thinking.template import think_tokens


def test_pieces_rebuild_the_generation_in_order(model, thinking_tok):
    stream = stream_generate(model, thinking_tok, "What is 2 + 3?", budget=5, max_new_tokens=30)
    pieces = list(stream)
    g = stream.result
    assert [p.token_id for p in pieces] == g.token_ids
    assert [p.phase for p in pieces] == g.labels
    assert [p.forced for p in pieces] == g.forced
    phases = [p.phase for p in pieces]
    assert phases == sorted(phases, key=["thinking", "answer"].index)  # thinking first, then answer
    counts = [(p.thinking_tokens, p.answer_tokens) for p in pieces]
    assert counts == sorted(counts) and counts[-1] == (g.thinking_tokens, g.answer_tokens) == (5, counts[-1][1])
    thought = "".join(p.text for p in pieces if p.phase == "thinking" and not p.forced)
    answered = "".join(p.text for p in pieces if p.phase == "answer" and not p.forced)
    assert (thought.strip(), answered.strip()) == (g.thinking, g.answer)


def test_stream_matches_plain_generate(model, thinking_tok):
    stream = stream_generate(model, thinking_tok, "hello", budget=3, max_new_tokens=20)
    list(stream)
    direct = generate(model, thinking_tok, "hello", budget=3, max_new_tokens=20)
    assert stream.result.token_ids == direct.token_ids and stream.result.forced == direct.forced


def test_close_stops_generation_early(model, thinking_tok):
    stream = stream_generate(model, thinking_tok, "hello", max_new_tokens=400)
    for i, _ in enumerate(stream):
        if i == 2:
            stream.close()
    assert not stream.running
    assert stream.result.finish_reason == "stopped" and stream.result.total_tokens < 50


def test_with_block_and_interrupt_stop_the_thread(model, thinking_tok):
    with pytest.raises(KeyboardInterrupt):
        with stream_generate(model, thinking_tok, "hello", max_new_tokens=400) as stream:
            for _ in stream:
                raise KeyboardInterrupt
    assert not stream.running and stream.result.finish_reason == "stopped"


def test_consume_runs_off_the_calling_thread(model, thinking_tok):
    seen, done, gate = [], threading.Event(), threading.Event()

    def on_piece(piece):
        gate.wait(10)  # held until the test has seen consume() return: a synchronous consume could not return
        seen.append(piece)

    stream = stream_generate(model, thinking_tok, "hi", budget=2, max_new_tokens=10)
    worker = stream.consume(on_piece, lambda result: done.set())
    assert not done.is_set() and not seen  # returned while the first piece is still held in the callback
    gate.set()
    assert done.wait(30) and worker is not threading.current_thread()
    assert [p.token_id for p in seen] == stream.result.token_ids


def test_phase_streamer_plugs_into_model_generate(model, hybrid_tok, thinking_tok):
    assert prepare(hybrid_tok, "hi", True, think_tokens(hybrid_tok)).state == PRE
    tt = think_tokens(thinking_tok, model)
    prepared = prepare(thinking_tok, "hi", True, tt)
    proc = ThinkingBudgetProcessor(thinking_tok, 0, model=model)
    streamer = PhaseStreamer(thinking_tok, prepared, tt, proc)
    ids = torch.tensor([prepared.ids])
    out = model.generate(
        ids,
        streamer=streamer,
        logits_processor=LogitsProcessorList([proc]),
        max_new_tokens=6,
        do_sample=False,
        pad_token_id=thinking_tok.pad_token_id,
    )
    pieces = list(streamer)  # like TextIteratorStreamer: iterate until generate calls end()
    assert [p.token_id for p in pieces] == out[0, ids.shape[1] :].tolist()
    assert all(p.phase == "thinking" and p.forced for p in pieces)  # budget 0: the stop text comes first
    assert "".join(p.text for p in pieces) == model.generation_config.thinking_stop_text[:6]


def test_phase_streamer_text_over_many_lines_is_exact(hybrid_tok):
    tt = think_tokens(hybrid_tok)
    prepared = prepare(hybrid_tok, "hi", True, tt)
    streamer = PhaseStreamer(hybrid_tok, prepared, tt)
    text = "<think>\n1+2=3\ncarry 0\n</think>\n\nThe sum\nis 3.<|im_end|>"
    streamer.put(torch.tensor([prepared.ids]))  # the prompt comes first and is skipped
    for token in hybrid_tok.encode(text, add_special_tokens=False):
        streamer.put(torch.tensor([token]))
    streamer.end()
    pieces = list(streamer)
    assert "".join(p.text for p in pieces if p.phase == "thinking") == "\n1+2=3\ncarry 0\n"
    assert "".join(p.text for p in pieces if p.phase == "answer") == "\n\nThe sum\nis 3."
    assert (pieces[-1].thinking_tokens, pieces[-1].answer_tokens) == (
        len("\n1+2=3\ncarry 0\n"),
        len("\n\nThe sum\nis 3."),
    )


def test_dropping_a_stream_stops_its_generation(model, thinking_tok):
    stream = stream_generate(model, thinking_tok, "hello", max_new_tokens=450)
    next(stream)
    thread = stream._thread
    del stream
    gc.collect()
    thread.join(2.0)  # 450 tokens take several seconds here; a dropped stream stops at the next step
    assert not thread.is_alive()


def test_streamed_generation_can_capture_routing(model, thinking_tok):
    stream = stream_generate(model, thinking_tok, "hi", budget=2, max_new_tokens=8, capture=True)
    list(stream)
    g = stream.result
    assert g.trace.num_tokens == len(g.prompt_ids) + len(g.token_ids) - 1
    assert g.trace.phase.tolist()[len(g.prompt_ids) :] == [1 if lab == "thinking" else 2 for lab in g.labels][:-1]
