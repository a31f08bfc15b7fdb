"""The notebooks: committed clean (no outputs, no widget state), written against the public API only, and
each one runs top to bottom on the bundled model (executed headlessly with nbclient; their durations are
measured in benchmarks/, not asserted here)."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import nbformat
import pytest
from widget_state import busy_statuses, missing_widget_models

import qnext_lab

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "notebooks").glob("ja/*.ipynb"))
# A hang guard per cell, not a speed limit: how long each notebook takes is measured in
# benchmarks/bench_notebooks.py and reported in docs/benchmarks.md, never asserted here.
CELL_TIMEOUT_S = 1200
# qnext-tiny's matrices are tiny: one torch thread generates ~6x faster than two on a shared 2-core machine
SMALL_MODEL_THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# `from X import ...` is allowed only from public subpackages (the task generator of the bundled model)
ALLOWED_FROM_IMPORTS = {"qnext_lab.tiny"}
EXPECTED = [
    "01_tour",
    "02_routing",
    "03_thinking_modes",
    "04_budget",
    "05_your_model",
    "06_inside_the_kernel",
    "07_tools_and_agents",
    "08_why_it_is_fast",
    "09_fine_tune",
    "10_quantization",
    "11_run_it_at_home",
    "12_is_there_a_math_expert",
]
JAPANESE = ["ja/01_tour", "ja/08_why_it_is_fast", "ja/11_run_it_at_home"]
# notebooks that train read this and run a short smoke version (the skill does not appear in so few steps)
QUICK = {"QNEXT_LAB_QUICK": "1"}
# The test's own last cell: every view the notebook displayed finishes its background work (a teacher waits for the
# answers before saving); nbclient records widget updates only while a cell runs.
WAIT_FOR_VIEWS = """\
for _view in list(Out.values()):
    if callable(getattr(_view, "wait", None)):
        assert _view.wait(600), f"{type(_view).__name__} did not finish its work"
"""


def _code(path: Path) -> list[str]:
    return [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def _name(path: Path) -> str:
    return path.relative_to(ROOT / "notebooks").with_suffix("").as_posix()  # "01_tour", "ja/01_tour"


def test_all_notebooks_exist():
    assert [_name(p) for p in NOTEBOOKS] == [*EXPECTED, *JAPANESE]


def _shape(source: str) -> str:
    """The code with every string (and f-string) replaced by a placeholder: what it does, not what it says."""

    class Strings(ast.NodeTransformer):
        def visit_Constant(self, node: ast.Constant) -> ast.AST:
            return ast.Constant("…") if isinstance(node.value, str) else node

        def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.AST:
            return ast.Constant("…")

    return ast.dump(Strings().visit(ast.parse(source)))


def test_the_japanese_notebook_08_is_notebook_08_with_translated_prose():
    """Same code as notebook 08 but the language switch and translated strings (figure words, names, printed lines)."""
    english, japanese = (
        (ROOT / "notebooks" / "08_why_it_is_fast.ipynb"),
        (ROOT / "notebooks" / "ja" / "08_why_it_is_fast.ipynb"),
    )
    code_en, code_ja = _code(english), _code(japanese)
    assert len(code_en) == len(code_ja) and 'ql.set_language("ja")' in code_ja[0]
    assert _shape(code_en[0]) == _shape(code_ja[0].replace('\nql.set_language("ja")', ""))
    for en, ja in zip(code_en[1:], code_ja[1:]):
        assert _shape(en) == _shape(ja), ja
    cells = [nbformat.read(p, as_version=4).cells for p in (english, japanese)]
    assert [c.cell_type for c in cells[0]] == [c.cell_type for c in cells[1]]
    for cell in cells[1]:
        if cell.cell_type == "markdown":
            assert any("\u3040" <= ch <= "\u30ff" for ch in cell.source), cell.source[:80]


def test_the_japanese_tour_is_the_tour_with_translated_prose():
    """Same code as the English tour but the language switch, translated strings (titles, printed lines)."""
    english, japanese = _code(ROOT / "notebooks" / "01_tour.ipynb"), _code(ROOT / "notebooks" / "ja" / "01_tour.ipynb")
    assert len(english) == len(japanese) and 'ql.set_language("ja")' in japanese[0]
    for en, ja in zip(english[1:], japanese[1:]):
        assert _shape(en) == _shape(ja), ja
    prose = [
        c.source
        for c in nbformat.read(ROOT / "notebooks" / "ja" / "01_tour.ipynb", as_version=4).cells
        if c.cell_type == "markdown"
    ]
    assert all(any("\u3040" <= ch <= "\u30ff" for ch in md) for md in prose[:-1]), "untranslated prose"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_name)
def test_notebook_is_committed_clean(path):
    book = nbformat.read(path, as_version=4)
    nbformat.validate(book)
    assert "widgets" not in book.metadata, "strip widget state before committing (FigureWidget stores ~5 MB of JS)"
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"outputs left in {path.name}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_name)
def test_notebook_uses_only_the_public_api(path):
    public = set(qnext_lab.__all__)
    for source in _code(path):
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("qnext_lab"):
                assert node.module in ALLOWED_FROM_IMPORTS, f"{path.name}: 'from {node.module} import ...'"
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith("qnext_lab."), f"{path.name}: import {alias.name}"
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "ql":
                assert node.attr in public, f"{path.name}: ql.{node.attr} is not in qnext_lab.__all__"


def _bundled_model_present() -> bool:
    return (Path(qnext_lab.__file__).parent / "tiny" / "qnext-tiny" / "config.json").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_name)
def test_notebook_runs_top_to_bottom(path, tmp_path):
    from nbclient import NotebookClient

    if not _bundled_model_present():
        pytest.skip("the bundled qnext-tiny checkpoint is not trained yet (qnext_lab/tiny/qnext-tiny/config.json)")
    book = nbformat.read(path, as_version=4)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "TMPDIR": str(tmp_path),
        **SMALL_MODEL_THREADS,
        **QUICK,
    }
    book.cells.append(nbformat.v4.new_code_cell(WAIT_FOR_VIEWS))  # a teacher waits for the views, then saves
    client = NotebookClient(
        book, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute(env=env)
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    _assert_saved_figures_paint(book)
    # reopened, every output finds its widget model in the saved state, and no saved view still says "working…"
    assert not missing_widget_models(book), "outputs refer to widget models the saved widget state lacks"
    assert not busy_statuses(book), f"saved views still at work: {busy_statuses(book)}"


def _assert_saved_figures_paint(book) -> None:
    """nbclient saves the widget state with the notebook (as JupyterLab does with jupyter-config's saveState): every
    figure of a kit view in it is a plotly output with data, so the saved notebook shows it without a kernel."""
    state = book.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    panes = [m["state"] for m in state.values() if "qnext-plot" in m["state"].get("_dom_classes", ())]
    views = [m for m in state.values() if "qnext-routing-heatmap" in m["state"].get("_dom_classes", ())]
    assert len(panes) >= 2 * len(views), "a RoutingHeatmap's figures are missing from the saved widget state"
    for pane in panes:
        (output,) = pane["outputs"]
        figure = output["data"]["application/vnd.plotly.v1+json"]
        assert figure["data"], f"a saved figure has no traces: {figure['layout'].get('title')}"


def test_make_lab_layers_the_kits_jupyterlab_defaults(monkeypatch, tmp_path):
    """`make lab` and Binder put jupyter-config/ on JUPYTER_CONFIG_PATH: no news pop-up, widget state saved with the
    notebook, user settings untouched."""
    from jupyterlab_server.settings_utils import _get_overrides

    assert 'JUPYTER_CONFIG_PATH="$(CURDIR)/jupyter-config' in (ROOT / "Makefile").read_text()
    assert "jupyter-config" in (ROOT / "binder" / "start").read_text()
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(ROOT / "jupyter-config"))
    overrides, error = _get_overrides(str(tmp_path))  # an empty app settings dir: only the layered defaults
    assert not error
    assert overrides["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"
    # a saved notebook keeps its widgets' state: reopened, every view shows its last state, not "model not found"
    assert overrides["@jupyter-widgets/jupyterlab-manager:plugin"]["saveState"] is True
