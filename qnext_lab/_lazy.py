"""Lazy exports for qnext_lab's packages (PEP 562): a public name is imported from its module on first use.

Every package of qnext_lab lists its public names as ``{name: "module"}``, ``{name: "module:attr"}`` or
``{name: "module:"}`` (the module itself; module relative to the package, or absolute), so that ``import qnext_lab.figures`` imports neither plotly nor
any builder until one is asked for, and ``from qnext_lab.trace import capture`` always gives the function.
Belongs to no layer: it imports nothing from qnext_lab.

    __all__, __getattr__, __dir__ = lazy_exports(__name__, {"capture": "capturing", "RoutingTrace": "routing_trace"})
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: dict[str, str]
) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """``(__all__, __getattr__, __dir__)`` for ``package`` exporting ``exports`` lazily."""

    def __getattr__(name: str) -> Any:
        target = exports.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, colon, attr = target.partition(":")
        module = importlib.import_module(module if module.startswith("qnext_lab") else f"{package}.{module}")
        value = module if colon and not attr else getattr(module, attr or name)  # "pkg:" names the module itself
        setattr(sys.modules[package], name, value)  # cached: the next access is a plain attribute lookup
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return sorted(exports), __getattr__, __dir__
