"""What the notebooks say without running them: the tour points to every notebook, the Japanese tour keeps
its sentences whole, answers printed by the teaching cells carry a mark, and a notebook opens unchanged in
JupyterLab (its kernelspec and language_info are what the kernel reports, so JupyterLab has nothing to write
and shows no unsaved-changes dot)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "notebooks").glob("ja/*.ipynb"))
TOURS = [ROOT / "notebooks" / "01_tour.ipynb", ROOT / "notebooks" / "ja" / "01_tour.ipynb"]
CJK = "\u3000-\u30ff\u3400-\u9fff\uff00-\uffef"


def _cells(path: Path, kind: str) -> list:
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == kind]


@pytest.mark.parametrize("tour", TOURS, ids=lambda p: p.parent.name + "/" + p.name)
def test_where_next_lists_every_notebook(tour):
    where_next = _cells(tour, "markdown")[-1].source
    listed = set(re.findall(r"\*\*(\d\d_[a-z_]+)\*\*", where_next))
    present = {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")} - {"01_tour"}
    assert present <= listed, f"'Where next' leaves out {sorted(present - listed)}"


def test_japanese_sentences_are_not_broken_by_source_lines():
    """A newline inside a paragraph renders as a space: between two Japanese characters that is a gap."""
    for cell in _cells(TOURS[1], "markdown"):
        broken = re.findall(rf"[{CJK}*`]\n[{CJK}*`]", cell.source)
        assert not broken, cell.source


@pytest.mark.parametrize(
    ("name", "cell_id"),
    [("01_tour", "01-04"), ("ja/01_tour", "01-04"), ("03_thinking_modes", "03-04"), ("03_thinking_modes", "03-06")],
)
def test_cells_that_print_answers_mark_them(name, cell_id):
    book = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    source = next(c.source for c in book.cells if c.get("id") == cell_id)
    assert "answer_key()" in source and "is_right" in source and "✗" in source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_notebook_opens_without_changes(path):
    from ipykernel.ipkernel import IPythonKernel
    from jupyter_client.kernelspec import KernelSpecManager

    meta = nbformat.read(path, as_version=4).metadata
    spec = KernelSpecManager().get_kernel_spec("python3")
    # JupyterLab writes {name, display_name, language} of the kernel's spec into the notebook when it starts one
    assert meta.kernelspec == {"name": "python3", "display_name": spec.display_name, "language": spec.language}
    # ... and the kernel's language_info; only the Python patch version may differ from one machine to the next
    reported = dict(IPythonKernel.language_info)
    assert {k: v for k, v in meta.language_info.items() if k != "version"} == {
        k: v for k, v in reported.items() if k != "version"
    }
