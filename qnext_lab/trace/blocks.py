"""The life of the kit's ``with`` blocks on one model: ``capture``, ``capture_selection`` and ``intervene``.

A :class:`ModelBlock` holds the model's lock (``lock.hold``: another thread's block, generation or widget waits,
``timeout=`` bounds that wait) and this thread's hooks (``hooks.ThreadHooks``) from ``__enter__`` to
``__exit__``; it refuses to be entered twice, and lets go of both on exit, on error and when installing its
hooks fails halfway. A :class:`RecordingBlock` also fills a result: ``__enter__`` returns it empty, ``__exit__``
builds it from what the hooks recorded (on an error exit: what ran; if building fails too, the user's own
exception is the one raised). Subclasses say what they hook (``_install``), what per-block state they drop
(``_reset``) and, for recording blocks, how the result is made (``_empty``, ``_build``). Knows nothing about
routing, indexers or traces.

    class count_forwards(RecordingBlock):
        WHAT = "count_forwards"
        def _install(self, hooks): hooks.pre(self.model, lambda *a: self.calls.append(1))
        def _reset(self): self.calls = []
        def _empty(self): return Counted(0)
        def _build(self): return Counted(len(self.calls))
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any

from torch import nn

from .hooks import ThreadHooks
from .lock import hold

__all__ = ["ModelBlock", "RecordingBlock"]


class ModelBlock:
    """A ``with`` block on ``self.model`` holding its lock and this thread's hooks (see the module docstring)."""

    WHAT = "block"  # the block's public name: in ModelBusyError and in the refusal to nest
    model: nn.Module
    timeout: float | None = None
    _hold: AbstractContextManager | None = None  # the model lock, while the block is open
    _hooks: ThreadHooks | None = None  # this block's hooks, while it is open

    def _install(self, hooks: ThreadHooks) -> None:
        """Put the block's hooks on the model (through ``hooks``, so that ``_close`` takes them all out)."""

    def _reset(self) -> None:
        """Drop the per-block state (called when the block opens and when it closes)."""

    def _refuse(self) -> None:
        """Raise here, holding the lock, when the block may not open now (e.g. another block rewrites the same
        routers)."""

    def _open(self) -> ThreadHooks:
        """Take the model lock, refuse a second entry, then install the hooks; on any failure let go again."""
        lock = hold(self.model, timeout=self.timeout, what=self.WHAT)
        lock.__enter__()  # from here on no other thread enters a block on this model
        try:
            if self._hooks is not None:  # only this thread can get here while the block is open (the lock is ours)
                raise RuntimeError(f"this {self.WHAT} is already active; create a new {self.WHAT}(...) to nest")
            self._refuse()
        except BaseException:
            lock.__exit__(None, None, None)
            raise
        self._hold = lock
        self._reset()
        hooks = self._hooks = ThreadHooks()
        try:
            self._install(hooks)
        except BaseException:
            self._close()
            raise
        return hooks

    def _close(self) -> None:
        """Remove the hooks, drop the per-block state and release the model lock (whatever fails on the way)."""
        hooks, lock = self._hooks, self._hold
        self._hooks = self._hold = None
        try:
            try:
                if hooks is not None:
                    hooks.remove()
            finally:
                self._reset()  # frees what was recorded; a built result holds its own copies
        finally:
            if lock is not None:
                lock.__exit__(None, None, None)


class RecordingBlock(ModelBlock):
    """A ``ModelBlock`` whose ``with`` returns a result (``self.trace``), empty inside the block, filled on exit."""

    trace: Any = None  # the result of the latest block (a new object for each block)

    def _empty(self) -> Any:
        """The result as it is before anything ran (returned by ``__enter__``)."""
        raise NotImplementedError

    def _build(self) -> Any:
        """The result from what the hooks recorded (raise when it cannot be built)."""
        raise NotImplementedError

    def _hooks_removed(self, hooks: ThreadHooks) -> None:
        """Called on exit once the hooks are out, before building (e.g. to say the model ran only elsewhere)."""

    def __enter__(self) -> Any:
        self._open()
        try:
            self.trace = self._empty()
        except BaseException:
            self._close()
            raise
        return self.trace

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        result, hooks = self.trace, self._hooks
        try:
            hooks.remove()
            self._hooks_removed(hooks)
            try:
                built = self._build()
            except Exception:
                if exc_type is None:
                    raise
                return  # keep the user's own exception; the result stays empty
            result.__dict__.update(built.__dict__)
        finally:
            self._close()
