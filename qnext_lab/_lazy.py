"""Lazy exports for qnext_lab's packages (PEP 562): a public name is imported from its module on first use.

Every package of qnext_lab lists its public names as ``{name: "module"}``, ``{name: "module:attr"}`` or
``{name: "module:"}`` (the module itself; module relative to the package, or absolute), so that ``import
qnext_lab.figures`` imports neither plotly nor any builder until one is asked for, and ``from qnext_lab.trace
import capture`` always gives the function. The work is scientific-python's ``lazy_loader.attach`` (import on first
access, the value cached on the package, a guard for names that shadow a module); this file only turns the kit's
one-line-per-name table into its arguments. Belongs to no layer: it imports nothing from qnext_lab.

    __all__, __getattr__, __dir__ = lazy_exports(__name__, {"capture": "capturing", "RoutingTrace": "routing_trace"})
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lazy_loader

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: dict[str, str]
) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """``(__all__, __getattr__, __dir__)`` for ``package`` exporting ``exports`` lazily."""
    submodules: set[str] = set()
    attrs: dict[str, list[str]] = {}
    for name, target in exports.items():
        module, colon, attr = target.partition(":")
        if module.startswith(package + "."):  # absolute, inside this package: lazy_loader wants it relative
            module = module[len(package) + 1 :]
        elif module.startswith("qnext_lab"):
            raise ValueError(f"{package}: {name!r} points outside the package ({target!r})")
        if colon and not attr:  # "pkg:" names the module itself
            if module != name:
                raise ValueError(f"{package}: the module export {name!r} must be named as its module ({target!r})")
            submodules.add(module)
        else:
            if attr and attr != name:
                raise ValueError(f"{package}: {name!r} must be exported under its own name, not {attr!r}")
            attrs.setdefault(module, []).append(name)
    __getattr__, __dir__, names = lazy_loader.attach(package, submodules=submodules, submod_attrs=attrs)
    return sorted(names), __getattr__, __dir__
