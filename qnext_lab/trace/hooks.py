"""Forward hooks that act only in the thread that installed them.

``capture`` and ``intervene`` hook a model that other threads (a widget's worker, a cell) may be running at
the same moment. Each hook here first checks the thread: in any other thread it returns at once and changes
nothing, so another thread's forward never records into, or is rewritten by, someone else's block.

Installing is safe while other threads run forwards: torch registers a hook in two steps (the hook, then its
``with_kwargs`` mark), and a forward in between calls it without ``kwargs``. The hooks here accept both
call shapes (the output is always the last argument), so a half-installed or half-removed hook is
harmless, and every install or removal made through this module is serialised by one lock. Knows nothing
about routing, traces or models.

    hooks = ThreadHooks()                      # owned by the calling thread
    hooks.pre(module, lambda m, args, kwargs: print(args[0].shape)); ...; hooks.remove()
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from torch import nn
from torch.utils.hooks import RemovableHandle

__all__ = ["ThreadHooks"]

_INSTALL = threading.Lock()  # one writer at a time (torch's hook ids come from an unlocked counter)

PreHook = Callable[[nn.Module, tuple, dict], Any]  # (module, args, kwargs) -> None or (args, kwargs)
PostHook = Callable[[nn.Module, tuple, Any], Any]  # (module, args, output) -> None or a new output


class ThreadHooks:
    """Hooks owned by the thread that created this object; ``remove()`` takes them all out."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()
        self.foreign_calls = 0  # hook calls from other threads, ignored (approximate: unlocked increments)
        self._handles: list[RemovableHandle] = []

    def __len__(self) -> int:
        return len(self._handles)

    def pre(self, module: nn.Module, fn: PreHook) -> None:
        """``fn(module, args, kwargs)`` before each forward of ``module`` in the owning thread."""
        owner = self.thread

        def hook(mod: nn.Module, args: tuple, *rest: Any) -> Any:
            if threading.get_ident() != owner:
                self.foreign_calls += 1
                return None
            return fn(mod, args, rest[0] if rest else {})

        with _INSTALL:
            self._handles.append(module.register_forward_pre_hook(hook, with_kwargs=True))

    def post(self, module: nn.Module, fn: PostHook, *, always_call: bool = False) -> None:
        """``fn(module, args, output)`` after each forward of ``module`` in the owning thread (also after an
        error in it with ``always_call``); a non-None return replaces the output."""
        owner = self.thread

        def hook(mod: nn.Module, args: tuple, *rest: Any) -> Any:
            if threading.get_ident() != owner:
                self.foreign_calls += 1
                return None
            return fn(mod, args, rest[-1])  # (output) or (kwargs, output), as torch saw the marks

        with _INSTALL:
            self._handles.append(module.register_forward_hook(hook, always_call=always_call))

    def remove(self) -> None:
        """Remove every hook (idempotent)."""
        with _INSTALL:
            while self._handles:
                self._handles.pop().remove()
