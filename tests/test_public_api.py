"""The public API: ``qnext_lab.__all__`` names what users touch, including every type a public call hands out;
subpackages export the same way (lazily, with ``__all__``), and no exported name hides a module of its package."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import subprocess
import sys

import pytest

import qnext_lab

SUBPACKAGES = (
    "analysis",
    "families",
    "figures",
    "formats",
    "kernels",
    "runtime",
    "thinking",
    "tiny",
    "trace",
    "widgets",
)


def _qnext_types_in(annotation: str, namespace: dict) -> set[str]:
    """Names in a (string) annotation that resolve, in the defining module, to a class defined in qnext_lab."""
    found = set()
    for word in set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", annotation)):
        value = namespace.get(word)
        if inspect.isclass(value) and value.__module__.startswith("qnext_lab"):
            found.add(value.__name__)
    return found


def test_every_type_a_public_call_returns_is_exported():
    missing = {}
    for name in qnext_lab.__all__:
        value = getattr(qnext_lab, name)
        if not callable(value) or inspect.ismodule(value):
            continue
        functions = [value]
        if inspect.isclass(value):  # a class's public methods hand out types too
            functions = [m for n, m in inspect.getmembers(value, inspect.isfunction) if not n.startswith("_")]
        for fn in functions:
            annotation = inspect.signature(fn).return_annotation
            if annotation is inspect.Signature.empty:
                continue
            text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
            namespace = vars(sys.modules[fn.__module__])
            for type_name in _qnext_types_in(text, namespace) - set(qnext_lab.__all__):
                missing.setdefault(type_name, []).append(f"{name}.{fn.__name__}" if fn is not value else name)
    assert not missing, f"types handed out by public calls but not in qnext_lab.__all__: {missing}"


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_subpackages_export_lazily_with_all(package):
    module = importlib.import_module(f"qnext_lab.{package}")
    assert module.__all__ == sorted(module.__all__), "keep __all__ sorted"
    assert hasattr(module, "__getattr__"), f"qnext_lab.{package} should export lazily like qnext_lab itself"
    for name in module.__all__:
        assert getattr(module, name) is not None, f"qnext_lab.{package}.{name} does not resolve"
    assert set(dir(module)) >= set(module.__all__)


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_no_export_has_the_name_of_a_module_of_its_package(package):
    """``from qnext_lab.trace import capture`` must give the function whatever was imported before."""
    module = importlib.import_module(f"qnext_lab.{package}")
    submodules = {info.name for info in pkgutil.iter_modules(module.__path__)}
    clashes = sorted(submodules & set(module.__all__))
    assert not clashes, f"qnext_lab.{package} exports {clashes}, which are also module names"
    if package == "trace":  # the top-level facade too
        assert not set(qnext_lab.__all__) & {
            info.name for info in pkgutil.iter_modules(qnext_lab.__path__) if info.name not in SUBPACKAGES
        }


def test_importing_a_subpackage_imports_none_of_its_modules():
    code = (
        "import sys, qnext_lab.figures, qnext_lab.analysis, qnext_lab.widgets, qnext_lab.thinking;"
        "print(sorted(m for m in sys.modules if m.split('.')[:2] in (['qnext_lab', 'figures'],"
        " ['qnext_lab', 'widgets']) and m.count('.') == 2)); print('plotly' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    modules, plotly = out.stdout.strip().splitlines()
    assert modules == "[]" and plotly == "False", out.stdout
