"""A background worker where the newest request wins: debounced, superseding, never stale.

Widgets hand model work (generation, sweeps) to a :class:`LatestWorker` so the kernel's event thread never
blocks. Each ``submit`` gets a ticket; a newer ticket supersedes older ones: a waiting job that was never
started is dropped, a running job sees its ``cancel`` event set (generation stops at the next token), and
its result is discarded. Results are delivered under the worker's lock together with the caller's own
``is_current`` check, so a widget whose controls take the same lock never shows a stale result.
The thread exists only while a job waits or runs, so a forgotten widget (a re-run notebook cell) holds none;
``close()`` cancels the running job, drops the waiting one and refuses new ones (widgets call it from their
own ``close``). Knows nothing about widgets or models.

    worker = LatestWorker(debounce_s=0.15)
    worker.submit(lambda cancel: slow_answer(budget, cancel), on_result=show, on_error=show_error)
    worker.close()
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Job:
    ticket: int
    fn: Callable[[threading.Event], Any]
    on_result: Callable[[Any], None]
    on_error: Callable[[BaseException], None] | None
    is_current: Callable[[], bool] | None
    submitted_at: float
    cancel: threading.Event = field(default_factory=threading.Event)


class LatestWorker:
    """A daemon thread, alive while there is work, running the most recently submitted job (see module docstring)."""

    def __init__(self, *, debounce_s: float = 0.0, name: str = "qnext-lab-worker") -> None:
        self.debounce_s = float(debounce_s)
        self.name = name
        self.lock = threading.RLock()  # share it with the widget: delivery and control changes exclude each other
        self._wake = threading.Condition(self.lock)
        self._ticket = 0
        self._pending: _Job | None = None
        self._running: _Job | None = None
        self._idle = threading.Event()
        self._idle.set()
        self._closed = False
        # The thread lives only while there is work: started by submit(), it ends when nothing is waiting, so
        # a widget that is forgotten (a re-run cell) holds no thread even if nobody calls close().
        self._thread: threading.Thread | None = None

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (a closed worker refuses new jobs)."""
        return self._closed

    @property
    def alive(self) -> bool:
        """Whether a worker thread is running now (only while a job waits or runs)."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def close(self, timeout: float | None = 5.0) -> bool:
        """Cancel the running job, drop the waiting one and end the thread; True if it ended within ``timeout``.

        A job that ignores its cancel event (a long non-streaming call) ends on its own; its result is dropped.
        Closing twice is harmless.
        """
        with self._wake:
            self._closed = True
            self._ticket += 1  # whatever still runs is stale: its result is never delivered
            self._pending = None
            if self._running is not None:
                self._running.cancel.set()
            self._wake.notify_all()
            thread = self._thread
        if thread is None or thread is threading.current_thread():  # from a callback: the loop ends after it
            return True
        thread.join(timeout)
        return not thread.is_alive()

    @property
    def ticket(self) -> int:
        """The ticket of the newest submission."""
        return self._ticket

    def submit(
        self,
        fn: Callable[[threading.Event], Any],
        *,
        on_result: Callable[[Any], None],
        on_error: Callable[[BaseException], None] | None = None,
        is_current: Callable[[], bool] | None = None,
    ) -> int:
        """Queue ``fn(cancel_event)``; supersede everything older. Returns the job's ticket.

        ``on_result``/``on_error`` run on the worker thread, under :attr:`lock`, and only if the job is still
        the newest and ``is_current()`` (checked under the same lock) is true.
        """
        with self._wake:
            if self._closed:
                raise RuntimeError(f"this {type(self).__name__} was closed; create a new widget to run more work")
            self._ticket += 1
            if self._running is not None:
                self._running.cancel.set()
            self._pending = _Job(self._ticket, fn, on_result, on_error, is_current, time.monotonic())
            self._idle.clear()
            self._wake.notify_all()
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
                self._thread.start()
            return self._ticket

    def is_latest(self, ticket: int) -> bool:
        """Whether ``ticket`` is still the newest submission (use it to drop stale streaming updates)."""
        return ticket == self._ticket

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no job is waiting or running (for tests and scripts). True if idle."""
        return self._idle.wait(timeout)

    def _deliver(self, job: _Job, callback: Callable[[Any], None] | None, value: Any) -> None:
        with self.lock:
            stale = job.ticket != self._ticket or job.cancel.is_set()
            if stale or callback is None or (job.is_current is not None and not job.is_current()):
                return
            try:
                callback(value)
            except Exception as exc:  # a failing display must not kill the worker
                if job.on_error is not None and callback is not job.on_error:
                    job.on_error(exc)
                else:
                    traceback.print_exception(exc)

    def _loop(self) -> None:
        while True:
            with self._wake:
                while self._pending is not None:  # debounce: wait until the newest request has been quiet
                    remaining = self._pending.submitted_at + self.debounce_s - time.monotonic()
                    if remaining <= 0:
                        break
                    self._wake.wait(remaining)
                if self._pending is None:  # nothing left (or closed): end the thread; submit() starts another
                    self._thread = None
                    self._idle.set()
                    return
                job, self._pending = self._pending, None
                self._running = job
            try:
                result = job.fn(job.cancel)
            except BaseException as exc:  # shown to the user by on_error
                self._deliver(job, job.on_error, exc)
            else:
                self._deliver(job, job.on_result, result)
            finally:
                with self._wake:
                    self._running = None
