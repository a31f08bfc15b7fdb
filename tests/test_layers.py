"""The package's layers: no module imports from a layer above its own (not even inside a function), and no
import cycle between modules. Parsed from the source (``ast``), so nothing is imported or executed.

Layers, lowest first (docs/architecture.md): kernels < families < runtime < formats < trace < thinking < analysis < tiny
< figures < widgets. ``qnext_lab/__init__.py`` is the facade over all of them and is not a layer;
``qnext_lab/_lazy.py`` (the lazy-export helper every package uses) and ``qnext_lab/checks.py`` (the one rule for
numbers given to the kit) sit below all of them and import nothing of the package.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "qnext_lab"
LAYERS = ("kernels", "families", "runtime", "formats", "trace", "thinking", "analysis", "tiny", "figures", "widgets")


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, int]]:
    """(imported qnext_lab module, line) for every import statement of the file, wherever it sits."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(base + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            # `from pkg import sub` names a module when pkg.sub is one; otherwise it names an attribute of pkg
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        found += [(t, node.lineno) for t in targets if t == "qnext_lab" or t.startswith("qnext_lab.")]
    return found


BELOW_ALL = ("qnext_lab._lazy", "qnext_lab.checks")


def _layer(module: str) -> int | None:
    if module in BELOW_ALL:
        return -1
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def test_every_module_belongs_to_a_layer():
    modules = _modules()
    strays = [m for m in modules if m != "qnext_lab" and _layer(m) is None]
    assert not strays, f"modules outside the layers {LAYERS}: {strays}; add the layer to this test and the docs"


def test_no_module_imports_from_a_layer_above_its_own():
    modules = _modules()
    upward = []
    for name, path in modules.items():
        own = _layer(name)
        if own is None:  # the facade qnext_lab/__init__.py
            continue
        for target, line in _imports(name, path, modules):
            other = _layer(target)
            if target == "qnext_lab" or (other is not None and other > own):
                where = LAYERS[own] if own >= 0 else "below all layers"
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({where}) imports {target}")
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_no_import_cycles_between_modules():
    modules = _modules()
    # a package's __init__ re-exports its own modules; cycles through it are how packages work, not a design flaw
    graph = {
        name: sorted(
            {
                t
                for t, _ in _imports(name, path, modules)
                if t in modules and t != name and modules[t].name != "__init__.py"
            }
        )
        for name, path in modules.items()
        if path.name != "__init__.py"
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, []):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"
