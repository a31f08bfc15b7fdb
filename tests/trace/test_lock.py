"""trace.lock: one re-entrant lock per model, shared by its wrappers, with a clear error after a timeout."""

from __future__ import annotations

import copy
import gc
import threading
import weakref

import numpy as np
import pytest
from moe_models import make_model

from qnext_lab.trace import lock as lock_module
from qnext_lab.trace.lock import ModelBusyError, held_here, hold, model_lock


@pytest.fixture(scope="module")
def model():
    return make_model("qwen3_moe")


def test_one_lock_per_model_shared_by_wrappers_and_threads(model):
    lock = model_lock(model)
    assert model_lock(model.model) is lock  # the ForCausalLM and its base model lock the same network
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(model_lock(model))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(s is lock for s in seen)
    assert model_lock(make_model("qwen3_moe")) is not lock  # a second copy can run at the same time


def test_reentrant_in_one_thread(model):
    assert not held_here(model)
    with hold(model), hold(model.model, timeout=0), model_lock(model):
        assert held_here(model) and held_here(model.model)
        seen = []
        t = threading.Thread(target=lambda: seen.append(held_here(model)))
        t.start()
        t.join()
        assert seen == [False]  # held by this thread, not by that one
    assert not held_here(model)


def test_second_thread_waits_then_runs(model):
    order, inside = [], threading.Event()

    def first():
        with hold(model):
            inside.set()
            order.append("first starts")
            threading.Event().wait(0.2)
            order.append("first ends")

    t = threading.Thread(target=first)
    t.start()
    inside.wait()
    with hold(model):  # waits for the other thread instead of running beside it
        order.append("second")
    t.join()
    assert order == ["first starts", "first ends", "second"]


def test_timeout_names_the_holder(model):
    inside, release = threading.Event(), threading.Event()

    def busy():
        with hold(model, what="generate"):
            inside.set()
            release.wait()

    t = threading.Thread(target=busy, name="widget-worker")
    t.start()
    inside.wait()
    try:
        for _ in range(3):
            with pytest.raises(
                ModelBusyError,
                match=r"busy in another thread: thread 'widget-worker'.*\(generate\)"
                r".*longer timeout.*second model",
            ):
                with hold(model, timeout=0.05):
                    pass
        with pytest.raises(TimeoutError):  # ModelBusyError is a TimeoutError
            with hold(model.model, timeout=0):
                pass
    finally:
        release.set()
        t.join()
    with hold(model, timeout=0):  # released: free again
        pass


def test_lock_released_on_error(model):
    with pytest.raises(KeyError):
        with hold(model):
            raise KeyError("boom")
    done = []
    t = threading.Thread(
        target=lambda: done.append(model_lock(model).acquire(timeout=1) and model_lock(model).release())
    )
    t.start()
    t.join()
    assert done == [None]  # acquired (then released) from another thread


@pytest.mark.parametrize(
    "bad, error", [(-1, ValueError), (float("nan"), ValueError), ("5", TypeError), (True, TypeError)]
)
def test_bad_timeout(model, bad, error):
    with pytest.raises(error, match="timeout"):
        with hold(model, timeout=bad):
            pass


def test_numpy_timeout_and_bad_model(model):
    with hold(model, timeout=np.float32(0.5)):
        pass
    with pytest.raises(TypeError, match="cannot lock a int"):
        model_lock(3)


def test_lock_goes_with_the_model_and_is_not_copied():
    m = make_model("qwen3_moe")
    with hold(m):
        clone = copy.deepcopy(m)  # the lock lives beside the model, not in it
    assert model_lock(clone) is not model_lock(m)
    before = len(lock_module._ENTRIES)
    ref = weakref.ref(m)
    del m, clone
    gc.collect()
    assert ref() is None and len(lock_module._ENTRIES) < before  # no table that only grows
