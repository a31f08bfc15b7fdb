"""One re-entrant lock per model: whoever runs, captures or changes a model holds it, one thread at a time.

A notebook shares one model between cells and widget worker threads. ``capture``, ``intervene``, the
generation engine and every widget take this lock, so a second caller waits for the first (or, with a
``timeout``, gets a ``ModelBusyError`` saying who holds the model) instead of mixing its routing into the
other's trace. The lock is re-entrant: a thread that holds it may take it again (``capture`` around
``generate`` in one thread works), but it is owned by a thread, so never hold it while waiting for another
thread that needs the same model (take it on the thread that runs the forwards).

The lock belongs to the model object: it is kept in a ``WeakKeyDictionary`` keyed by the model, so it goes
away with the model, is never pickled or deep-copied with it, and a second loaded copy of the model has its
own lock (load a second model to run two generations truly at once). Wrappers of one network share one
lock: the key is the innermost ``base_model`` (a ``...ForCausalLM``, its ``.model`` and a PEFT wrapper of it
all lock the same thing). Knows nothing about hooks, traces or generation.

    with hold(model, timeout=5.0):       # wait up to 5 s, then ModelBusyError
        out = model.generate(**batch)
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from torch import nn

__all__ = ["ModelBusyError", "held_here", "hold", "model_lock"]


class ModelBusyError(TimeoutError):
    """Another thread held the model for longer than the caller's ``timeout``."""


@dataclass
class _Entry:
    lock: threading.RLock
    depth: int = 0  # nesting of hold() by the owning thread (changed only while holding the lock)
    holder: str = ""  # thread name of the outermost hold(), for the busy message
    what: str = ""  # what that hold() said it was doing ("generate", "capture", ...)
    since: float = 0.0  # time.monotonic() of the outermost hold()


_ENTRIES: weakref.WeakKeyDictionary[Any, _Entry] = weakref.WeakKeyDictionary()
_GUARD = threading.Lock()  # makes "look up, else create" atomic, so two threads never get two locks


def _owner(model: Any) -> Any:
    """The object the lock is keyed by: the innermost ``base_model`` (wrappers share their network's lock)."""
    if model is None:
        raise TypeError("expected a model, got None")
    key = model
    for _ in range(8):  # PeftModel -> LoraModel -> ForCausalLM's base model: a fixed point in a few steps
        try:
            base = getattr(key, "base_model", None)
        except Exception:  # a property that fails on a half-built object: the object itself is the owner
            break
        if not isinstance(base, nn.Module) or base is key:
            break
        key = base
    return key


def _entry(model: Any) -> _Entry:
    key = _owner(model)
    with _GUARD:
        try:
            entry = _ENTRIES.get(key)
            if entry is None:
                entry = _ENTRIES[key] = _Entry(threading.RLock())
        except TypeError as exc:  # not weak-referenceable (or unhashable)
            raise TypeError(
                f"cannot lock a {type(model).__name__}: expected a model object "
                "(a torch.nn.Module such as the one qnext_lab.load() returns)"
            ) from exc
    return entry


def model_lock(model: Any) -> threading.RLock:
    """The model's re-entrant lock (created on first use, the same object for every caller and thread).

    ``with model_lock(model):`` waits without limit; prefer :func:`hold`, which takes a timeout and names the
    holder in its error.
    """
    return _entry(model).lock


def held_here(model: Any) -> bool:
    """Whether the calling thread holds ``model``'s lock (through :func:`hold` or :func:`model_lock`).

    Code that hands model work to another thread (streaming) can check it first: that thread would wait
    for this one forever, so refuse clearly or run the work here instead.
    """
    return _entry(model).lock._is_owned()  # both RLock implementations have it; there is no public form


def _check_timeout(timeout: float | None) -> float:
    """``None`` -> -1 (wait forever, the value ``RLock.acquire`` wants); otherwise seconds >= 0."""
    if timeout is None:
        return -1
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) and not hasattr(timeout, "__float__"):
        raise TypeError(f"timeout must be a number of seconds or None (wait as long as it takes), got {timeout!r}")
    seconds = float(timeout)
    if math.isnan(seconds) or seconds < 0:
        raise ValueError(f"timeout must be >= 0 seconds (or None to wait as long as it takes), got {timeout!r}")
    return min(seconds, threading.TIMEOUT_MAX)


@contextmanager
def hold(model: Any, *, timeout: float | None = None, what: str = "") -> Iterator[None]:
    """Hold ``model``'s lock for the ``with`` block; re-entrant within one thread.

    Args:
        model: the model (any wrapper of it locks the same network).
        timeout: seconds to wait for another thread to finish with the model; ``None`` waits as long as it
            takes. After the timeout: :class:`ModelBusyError` (a ``TimeoutError``).
        what: a word on what the block does ("generate", "capture"), shown to callers who time out.
    """
    wait = _check_timeout(timeout)
    entry = _entry(model)
    if not entry.lock.acquire(timeout=wait):
        holder = (
            (
                f"thread {entry.holder!r} has held it for {time.monotonic() - entry.since:.1f} s"
                + (f" ({entry.what})" if entry.what else "")
            )
            if entry.holder
            else "another thread holds it"
        )
        raise ModelBusyError(
            f"model is busy in another thread: {holder}, and timeout={timeout} s ran out; wait, pass a longer "
            "timeout (None waits as long as it takes), or load a second model to run both at once"
        )
    outer = entry.depth == 0
    if outer:
        entry.holder, entry.what, entry.since = threading.current_thread().name, what, time.monotonic()
    entry.depth += 1
    try:
        yield
    finally:
        entry.depth -= 1
        if outer:
            entry.holder, entry.what = "", ""
        entry.lock.release()
