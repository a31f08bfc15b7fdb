"""One model, several threads: each caller gets exactly what it would get alone.

The bundled qnext-tiny through the public ``generate`` (which takes the model lock), and a small random
Qwen3-MoE driven by raw ``model(...)`` / ``model.generate`` calls that take no lock (a user's own code, or a
library's): there the per-thread hooks alone must keep ``capture`` and ``intervene`` to their own thread.
Every scenario runs several times; results are compared exactly (ids, weights, token ids).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

import pytest
import torch
from moe_models import make_model

import qnext_lab
from qnext_lab.trace.capturing import capture
from qnext_lab.trace.interventions import intervene
from qnext_lab.trace.lock import ModelBusyError, hold

REPEATS = 3
PROMPTS = ("What is 12 + 7?", "What is 345 - 29?")


@pytest.fixture(scope="module", autouse=True)
def _one_thread_fast_switches():
    threads, interval = torch.get_num_threads(), sys.getswitchinterval()
    torch.set_num_threads(1)
    sys.setswitchinterval(1e-5)  # switch threads often, so that their forwards interleave finely
    yield
    sys.setswitchinterval(interval)
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny():
    return qnext_lab.load("tiny")


@pytest.fixture(scope="module")
def small():
    return make_model("qwen3_moe", implementation="qnext")


def assert_same_trace(a, b) -> None:
    assert a.layer_indices == b.layer_indices
    assert torch.equal(a.token_ids, b.token_ids)
    assert torch.equal(a.seq_index, b.seq_index) and torch.equal(a.position, b.position)
    assert torch.equal(a.topk_ids, b.topk_ids)
    assert torch.equal(a.topk_weights, b.topk_weights)


def run_threads(*fns: Callable[[], object]) -> list[object]:
    """Start every fn at once (barrier), join, re-raise the first error; return their results in order."""
    results: list[object] = [None] * len(fns)
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(fns))

    def body(i: int, fn: Callable[[], object]) -> None:
        try:
            barrier.wait()
            results[i] = fn()
        except BaseException as exc:  # re-raised on the test thread
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i, fn)) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise errors[0]
    return results


class Background:
    """Runs ``step()`` in a loop on its own thread until stopped; collects the errors it meets."""

    def __init__(self, step: Callable[[], None]) -> None:
        self.step, self.runs, self.errors = step, 0, []
        self.started, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._loop, name="background-generate")

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.started.set()
            try:
                self.step()
            except BaseException as exc:  # inspected by the test
                self.errors.append(exc)
                return
            self.runs += 1

    def __enter__(self) -> Background:
        self._thread.start()
        self.started.wait()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)
        assert not self._thread.is_alive(), "background thread hung"


def tiny_generate(model, tok, prompt: str, **kw):
    return qnext_lab.generate(model, tok, prompt, thinking=True, max_new_tokens=16, capture=True, **kw)


def test_two_threads_generating_with_capture_get_their_solo_traces(tiny):
    model, tok = tiny
    solo = [tiny_generate(model, tok, p) for p in PROMPTS]
    for _ in range(REPEATS):
        both = run_threads(*(lambda p=p: tiny_generate(model, tok, p) for p in PROMPTS))
        for got, alone in zip(both, solo):
            assert got.token_ids == alone.token_ids
            assert_same_trace(got.trace, alone.trace)


def test_capture_of_one_forward_beside_a_generating_thread(tiny):
    model, tok = tiny
    ids = tok(PROMPTS[1], return_tensors="pt")["input_ids"]
    with torch.no_grad(), capture(model) as alone:
        model(input_ids=ids)
    assert len(alone) == ids.shape[1]
    with Background(lambda: tiny_generate(model, tok, PROMPTS[0])) as widget:
        for _ in range(REPEATS):
            with torch.no_grad(), capture(model) as trace:  # waits for the widget's generate, then runs alone
                model(input_ids=ids)
            assert_same_trace(trace, alone)
    assert not widget.errors and widget.runs >= 1


def test_capture_records_only_its_own_thread_beside_unlocked_forwards(small):
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    other = dict(input_ids=torch.tensor([[3, 4, 10, 11]]), max_new_tokens=6, do_sample=False, eos_token_id=None)
    with torch.no_grad(), capture(small, probs=True) as alone:
        small(input_ids=ids)
    with torch.no_grad(), Background(lambda: small.generate(**other)) as busy:  # no lock: raw model.generate
        for _ in range(REPEATS * 3):
            with torch.no_grad(), capture(small, probs=True) as trace:
                small(input_ids=ids)
            assert_same_trace(trace, alone)
            assert torch.equal(trace.probs, alone.probs)
    assert not busy.errors and busy.runs >= 1


def test_intervene_changes_only_its_own_threads_generations(tiny, small):
    model, tok = tiny
    ablate = {i: list(range(0, model.config.num_experts, 2)) for i in range(model.config.num_hidden_layers)}
    plain = tiny_generate(model, tok, PROMPTS[0])
    with intervene(model, ablate=ablate):
        changed = tiny_generate(model, tok, PROMPTS[0])
    assert changed.token_ids != plain.token_ids or not torch.equal(changed.trace.topk_ids, plain.trace.topk_ids)

    def with_change():
        with intervene(model, ablate=ablate):
            return tiny_generate(model, tok, PROMPTS[0])

    for _ in range(REPEATS):  # both through the public generate: one waits for the other
        a, b = run_threads(with_change, lambda: tiny_generate(model, tok, PROMPTS[0]))
        assert a.token_ids == changed.token_ids and b.token_ids == plain.token_ids
        assert_same_trace(a.trace, changed.trace)
        assert_same_trace(b.trace, plain.trace)

    # a raw forward on another thread (no lock) is not touched by this thread's block
    ids = torch.tensor([[3, 4, 10, 11, 12]])
    change = dict(ablate={0: range(6), 1: range(6)})
    with torch.no_grad():
        reference = small(input_ids=ids).logits
        with intervene(small, **change):
            forced = small(input_ids=ids).logits
    assert not torch.allclose(forced, reference)
    outputs: list[torch.Tensor] = []

    def other_thread():
        with torch.no_grad():
            outputs.append(small(input_ids=ids).logits)

    with Background(other_thread) as busy:
        for _ in range(REPEATS * 5):
            with torch.no_grad(), intervene(small, **change):
                assert torch.equal(small(input_ids=ids).logits, forced)
    assert not busy.errors and outputs
    assert all(torch.equal(out, reference) for out in outputs)


@pytest.mark.filterwarnings("ignore:capture recorded nothing")  # these blocks run no forward of their own
def test_installing_hooks_never_disturbs_a_running_forward(small):
    ids = torch.randint(3, 60, (2, 6), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        reference = small(input_ids=ids).logits
    mismatches: list[int] = []

    def forward():
        with torch.no_grad():
            if not torch.equal(small(input_ids=ids).logits, reference):
                mismatches.append(1)

    cycles = 0
    with Background(forward) as busy:
        while busy.runs < 60 and not busy.errors:  # enter and leave blocks as fast as possible meanwhile
            with capture(small, probs=True), intervene(small, top_k=1, ablate={0: [0, 1]}):
                pass
            cycles += 1
    assert not busy.errors, busy.errors
    assert not mismatches
    assert cycles > 10
    assert sum(len(m._forward_pre_hooks) + len(m._forward_hooks) for m in small.modules()) == 0


def test_busy_model_gives_a_clear_error_after_the_callers_timeout(small):
    inside, release = threading.Event(), threading.Event()

    def widget():
        with hold(small, what="generate"):
            inside.set()
            release.wait(30)

    t = threading.Thread(target=widget, name="widget-worker")
    t.start()
    inside.wait()
    try:
        for _ in range(REPEATS):
            with pytest.raises(ModelBusyError, match="busy in another thread.*widget-worker.*second model"):
                with capture(small, timeout=0.05):
                    pass
            with pytest.raises(ModelBusyError, match="widget-worker"):
                with intervene(small, top_k=1, timeout=0.05):
                    pass
        assert sum(len(m._forward_pre_hooks) + len(m._forward_hooks) for m in small.modules()) == 0
    finally:
        release.set()
        t.join()
    with capture(small, timeout=0) as trace, torch.no_grad():
        small(input_ids=torch.tensor([[4, 5]]))
    assert len(trace) == 2


def test_capture_of_a_model_run_only_by_another_thread_warns(small):
    ids = torch.tensor([[4, 5, 6]])
    with pytest.warns(UserWarning, match="ran only on other threads"):
        with capture(small) as trace:
            t = threading.Thread(target=lambda: small(input_ids=ids))
            t.start()
            t.join()
    assert len(trace) == 0


@pytest.mark.timeout(300)  # the bug this guards against is a hang
def test_streaming_inside_a_block_of_the_same_thread_runs_there(tiny):
    # the stream's background thread would wait for this thread's lock forever, and this thread's capture and
    # intervention would not apply to it: the stream runs here instead, with both in force
    model, tok = tiny
    ablate = {i: list(range(0, model.config.num_experts, 2)) for i in range(model.config.num_hidden_layers)}
    with intervene(model, ablate=ablate):
        changed = tiny_generate(model, tok, PROMPTS[0])
    with intervene(model, ablate=ablate), capture(model, timeout=30) as trace:
        with qnext_lab.stream_generate(model, tok, PROMPTS[0], thinking=True, max_new_tokens=16) as stream:
            pieces = list(stream)
    assert stream.result.token_ids == changed.token_ids
    assert [p.token_id for p in pieces if p.token_id is not None] == changed.token_ids
    assert torch.equal(trace.topk_ids, changed.trace.topk_ids)
    assert torch.equal(trace.token_ids, changed.trace.token_ids)
