"""Every notebook in a real JupyterLab 4, and the tour in Jupyter Notebook 7, in headless Chromium at a projector's
1024 x 768, light and dark, while another process keeps a CPU core busy (conftest.cpu_load).

For every plotly figure on the page: painted with data (traces with points, something drawn in the plot area), no
wider than the pane that holds it, no title or annotation under plotly's toolbar; no pane scrolls sideways; every
answer box carries its right/wrong mark; every tab of lab() is opened and checked, hidden ones included. The dark
theme reaches the figures. Moving the budget slider re-answers. A notebook saved after running and reopened with no
kernel shows every view in its final state from the saved widget state. The browser's console holds no widget
errors ("No such comm", anywidget start-up failures, models not found).

Screenshots (a handful, 0.75 device pixels per CSS pixel) go to tests/browser/artifacts/ for a person to look at.
QNEXT_LAB_BROWSER_NOTEBOOKS="01_tour 02_routing" runs a subset.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
from test_notebooks import EXPECTED, JAPANESE
from widget_state import missing_widget_models

import qnext_lab

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
ALL = EXPECTED + JAPANESE  # every notebook the headless test runs (tests/test_notebooks.py)
CHOSEN = os.environ.get("QNEXT_LAB_BROWSER_NOTEBOOKS", "").split() or ALL
SHOTS = {
    "01_tour",
    "02_routing",
    "07_tools_and_agents",
    "11_run_it_at_home",
    "ja/01_tour",
    "ja/11_run_it_at_home",
}  # screenshots kept for these (and lab())
RUN_LIMIT_S = 420  # one notebook, top to bottom, on a loaded 2-core machine
VIEWPORT = {"width": 1024, "height": 768}
CONSOLE_ERRORS = re.compile(r"No such comm|Failed to initialize model|model not found|Could not create a model", re.I)

# Every visible plotly figure under `root`: is it painted with data, does it fit its pane, is text under the toolbar.
_FIGURES = """
(root) => Array.from(root.querySelectorAll('.js-plotly-plot')).filter(p => p.offsetParent !== null).map(p => {
  const rect = e => e.getBoundingClientRect();
  const svg = p.querySelector('svg.main-svg');
  const pane = p.closest('.qnext-view') || p.closest('.jp-Cell-outputWrapper') || p.parentElement;
  const full = p._fullData || [];
  const points = t => ['z', 'x', 'y', 'values', 'cells'].reduce((n, k) => n + ((t[k] && t[k].length) || 0), 0);
  const drawn = p.querySelectorAll('.trace, .hm, .point, .heatmaplayer image, .pielayer path, .table .cell').length;
  const bar = p.querySelector('.modebar');
  const barRect = bar ? rect(bar) : null;
  const under = barRect ? Array.from(p.querySelectorAll('.gtitle, .annotation-text, .g-xtitle text, .legendtext'))
    .filter(t => { const r = rect(t); return r.width > 0 && r.right > barRect.left + 2 && r.left < barRect.right - 2
      && r.bottom > barRect.top + 2 && r.top < barRect.bottom - 2; }).map(t => t.textContent.slice(0, 40)) : [];
  return {
    title: ((p.layout && p.layout.title && p.layout.title.text) || '').slice(0, 60),
    traces: full.length, withData: full.filter(t => points(t) > 0).length, drawn,
    svg: svg ? rect(svg).width : -1, pane: rect(pane).width, under,
    font: (p._fullLayout && p._fullLayout.font && p._fullLayout.font.color) || '',
  };
})
"""
# Boxes that scroll sideways (content wider than the box): a clipped pane.
_SIDEWAYS = """
(root) => Array.from(root.querySelectorAll('.widget-box, .widget-hbox, .widget-vbox, .jp-OutputArea-output'))
  .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 2)
  .map(e => (e.className || '').toString().slice(0, 60) + ' ' + e.scrollWidth + '>' + e.clientWidth)
"""


def _bundled_model_present() -> bool:
    return (Path(qnext_lab.__file__).parent / "tiny" / "qnext-tiny" / "config.json").is_file()


@pytest.fixture(scope="module")
def page(browser, jupyter_server, cpu_load):
    if not _bundled_model_present():
        pytest.skip("the bundled qnext-tiny checkpoint is not trained yet (qnext_lab/tiny/qnext-tiny/config.json)")
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=0.75)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.console_errors = []
    page.on("console", lambda m: CONSOLE_ERRORS.search(m.text) and page.console_errors.append(m.text[:200]))
    yield page
    context.close()


# ---------------------------------------------------------------------------------------------------- driving
def _current_kernel_idle(page) -> bool:
    return page.evaluate(
        "() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
        " const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;"
        " return !!k && k.status === 'idle'; }"
    )


def _open(page, url: str) -> None:
    page.goto(url)
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget", timeout=120_000)
    deadline = time.monotonic() + 120
    while not _current_kernel_idle(page):
        if time.monotonic() > deadline:
            raise AssertionError("the kernel did not start")
        time.sleep(0.5)


def _run_all(page, limit_s: float = RUN_LIMIT_S) -> float:
    started = time.monotonic()
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    prompts: list[str] = []
    while time.monotonic() - started < limit_s:  # done when every code cell shows a number: no "[*]" and no "[ ]"
        prompts = page.eval_on_selector_all(".jp-CodeCell .jp-InputPrompt", "els => els.map(e => e.textContent)")
        if prompts and all(re.fullmatch(r"\s*\[\d+\]:?\s*", p) for p in prompts) and _current_kernel_idle(page):
            return time.monotonic() - started
        time.sleep(1)
    raise AssertionError(f"cells still running after {limit_s} s: {prompts}")


_ANSWERS = """() => {
  const visible = e => e.offsetParent !== null;
  const boxes = Array.from(document.querySelectorAll('.qnext-answer-box')).filter(visible);
  const busy = Array.from(document.querySelectorAll('.qnext-view .qnext-status, .qnext-view .widget-label'))
    .filter(e => visible(e) && /…$/.test(e.textContent.trim())).length;
  return [boxes.length, boxes.filter(b => b.querySelector('.qnext-verdict')).length, busy];
}"""


def _wait_for_answers(page, timeout_s: float = 240) -> None:
    """Until the views' background work is done: every visible answer box carries its verdict, no status line
    ends in "…" (generating…, working…), and that holds for three polls in a row (a view may start a run after
    its cell has finished)."""
    deadline, calm, last = time.monotonic() + timeout_s, 0, None
    while time.monotonic() < deadline:
        boxes, marked, busy = page.evaluate(_ANSWERS)
        state = (boxes, marked, busy)
        calm = calm + 1 if boxes == marked and busy == 0 and state == last else 0
        if calm >= 3:
            return
        last = state
        time.sleep(1)
    raise AssertionError(f"the views did not finish their work: {last} (boxes, marked, busy)")


def _wait_for_figures(page, timeout_s: float = 60) -> None:
    """Until every visible figure is drawn with data (plotly draws asynchronously after each replacement)."""
    try:
        page.wait_for_function(
            "() => Array.from(document.querySelectorAll('.js-plotly-plot')).filter(p => p.offsetParent !== null)"
            ".every(p => (p._fullData || []).length > 0 && p.querySelector('svg.main-svg'))",
            timeout=timeout_s * 1000,
        )
    except Exception:  # reported figure by figure by _check
        pass


def _set_theme(page, dark: bool) -> None:
    name = "JupyterLab Dark" if dark else "JupyterLab Light"
    page.evaluate(f"window.jupyterapp.commands.execute('apputils:change-theme', {{theme: '{name}'}})")
    page.wait_for_function(f"document.body.getAttribute('data-jp-theme-light') === '{str(not dark).lower()}'")
    page.wait_for_timeout(1500)  # PageWatch tells Python, Python redraws the figures


def _shot(page, name: str, handle=None) -> None:
    if handle is not None:
        page.evaluate("(el) => el.scrollIntoView({block: 'start'})", handle)
        page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_-]+', '_', name)}.png"))


# ---------------------------------------------------------------------------------------------------- checks
def _check(page, root_selector: str, tag: str) -> list[str]:
    """Everything visible under ``root_selector``: figures painted and fitting, no sideways scroll, marked answers."""
    failures: list[str] = []
    _wait_for_figures(page)
    for root in page.query_selector_all(root_selector):
        for f in page.evaluate(_FIGURES, root):
            name = f"{tag}: figure {f['title']!r}"
            if f["traces"] == 0 or f["withData"] == 0 or f["drawn"] == 0 or f["svg"] <= 0:
                failures.append(f"{name} not painted with data ({f['traces']} traces, {f['withData']} with data)")
            elif f["svg"] > f["pane"] + 1:
                failures.append(f"{name} is {f['svg']:.0f} px in a {f['pane']:.0f} px pane")
            if f["under"]:
                failures.append(f"{name}: text under the plotly toolbar: {f['under']}")
        failures += [f"{tag}: scrolls sideways: {s}" for s in page.evaluate(_SIDEWAYS, root)]
    for box in page.locator(f"{root_selector} .qnext-answer-box").all():
        if box.is_visible() and box.locator(".qnext-verdict").count() == 0:
            failures.append(f"{tag}: an answer without its right/wrong mark: {box.inner_text()[:80]!r}")
    return failures


def _check_lab_tabs(page, tag: str, shots: bool) -> list[str]:
    """Every tab of each lab() on the page, opened in turn (the hidden ones are drawn when opened)."""
    failures: list[str] = []
    for d, dash in enumerate(page.locator(".qnext-lab").all()):
        dash.evaluate("el => el.scrollIntoView({block: 'start'})")
        tabs = dash.locator(".lm-TabBar-tab")
        for i in range(tabs.count()):
            tabs.nth(i).click()
            page.wait_for_timeout(800)
            _wait_for_answers(page)
            failures += _check(page, ".qnext-lab", f"{tag} lab() tab {i}")
            label = tabs.nth(i).inner_text()
            width = tabs.nth(i).evaluate("t => [t.scrollWidth, t.clientWidth]")
            if "…" in label or width[0] > width[1] + 2:
                failures.append(f"{tag}: lab() tab {i} label cut: {label!r}")
            if shots and d == 0:
                _shot(page, f"{tag}_lab_tab{i}", dash.element_handle())
        tabs.nth(0).click()
    return failures


def _check_theme(page, tag: str) -> list[str]:
    """In the dark theme, the figures' text is light (they follow the page, not a white slab)."""
    fonts = page.evaluate(
        "() => Array.from(document.querySelectorAll('.qnext-view .js-plotly-plot'))"
        ".filter(p => p.offsetParent !== null).map(p => p._fullLayout.font.color)"
    )
    dark = [c for c in fonts if c.lower() not in ("#e6e6e6", "rgb(230, 230, 230)")]
    return [f"{tag}: {len(dark)} of {len(fonts)} kit figures keep a dark text colour: {dark[:3]}"] if dark else []


def _check_notebook(page, name: str, front_end: str) -> list[str]:
    tag = f"{front_end} {name}"
    failures = [f"{tag}: {e}" for e in _cell_errors(page)]
    _wait_for_answers(page)
    failures += _check(page, ".jp-Notebook", f"{tag} light")
    failures += _check_lab_tabs(page, tag, shots=name == "01_tour" and front_end == "lab")
    if name in SHOTS:
        for view in (
            "qnext-routing-heatmap",
            "qnext-think-compare",
            "qnext-budget-tuner",
            "qnext-agent-view",
            "qnext-offload-planner",
        ):
            first = page.locator(f".jp-Notebook > * .{view}").first
            if first.count() and first.is_visible():
                _shot(page, f"{front_end}_{name}_{view.removeprefix('qnext-')}", first.element_handle())
    _set_theme(page, dark=True)
    try:
        failures += _check(page, ".jp-Notebook", f"{tag} dark")
        failures += _check_theme(page, f"{tag} dark")
        if name in SHOTS:
            first = page.locator(".qnext-view").first
            if first.count():
                _shot(page, f"{front_end}_{name}_dark", first.element_handle())
    finally:
        _set_theme(page, dark=False)
    return failures


def _cell_errors(page) -> list[str]:
    outputs = page.query_selector_all(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    texts = [o.inner_text() for o in outputs]
    return [
        t[:300]
        for t in texts
        if "Traceback" in t
        or "serialization failed" in t
        or "Error displaying widget" in t
        or "Loading weights" in t
        or "falling back to its reference" in t  # a wall of library warnings in front of a class
    ]


def _move_budget_slider(page) -> None:
    tuner = page.locator(".qnext-budget-tuner").first
    tuner.evaluate("el => el.scrollIntoView({block: 'center'})")
    handle = tuner.locator(".noUi-handle").first
    handle.focus()
    handle.press("Home")  # budget 0: the model must answer without thinking
    page.wait_for_function(
        "() => { const t = document.querySelector('.qnext-budget-tuner');"
        " return t && t.innerHTML.includes('budget <b>0</b>') && t.querySelector('.qnext-answer-box .qnext-verdict'); }",
        timeout=60_000,
    )
    assert tuner.locator(".qnext-tally").inner_text().strip(), "the budget view does not count its right answers"


def _move_offload_slider(page) -> None:
    """Every expert on the GPU: the OffloadPlanner's predicted speed changes."""
    planner = page.locator(".qnext-offload-planner").first
    planner.evaluate("el => el.scrollIntoView({block: 'center'})")
    before = planner.inner_text()
    handle = planner.locator(".noUi-handle").first
    handle.focus()
    handle.press("End")
    page.wait_for_function(
        "(b) => document.querySelector('.qnext-offload-planner').innerText !== b", arg=before, timeout=60_000
    )
    assert "tokens/s" in planner.inner_text(), "the OffloadPlanner shows no predicted speed"


# One upstream failure is expected instead of failing the suite: the restore race when a saved notebook is reopened
# while a kernel starts (jupyterlab/jupyterlab#15361, ipywidgets#3823). jupyterlab-manager marks itself restored after
# reading the new kernel (no widgets yet) and loads the notebook's saved state afterwards; a renderer that ran in
# between shows "model not found" and never retries (docs/front_ends.md; 4 of 5 reopenings here). A finding is tagged
# "restore race" only when the saved state holds every model and the page's widget manager holds them a few seconds
# later; it is listed on every run (tests/browser/artifacts/open_issues_<notebook>.txt). Everything else fails hard:
# painting, fit at 1024 px, text under plotly's toolbar, sideways scroll, cut tab labels, marks, cell errors, console
# errors of the live page, English left in a Japanese notebook, a saved state that lacks a model its outputs show,
# and a reopened view still at work or unpainted.
_OPEN = ("restore race",)


def _finish(name: str, failures: list[str]) -> None:
    hard = [f for f in failures if not any(o in f for o in _OPEN)]
    known = [f for f in failures if any(o in f for o in _OPEN)]
    if known:
        safe = re.sub(r"[^A-Za-z0-9_-]+", "_", name)
        (ARTIFACTS / f"open_issues_{safe}.txt").write_text("".join(f"{f}\n" for f in known))
    assert not hard, "\n".join(hard)
    if known:
        pytest.xfail(
            f"upstream restore race on reopen (jupyterlab#15361), {len(known)} finding(s): " + " | ".join(known[:8])
        )


# ---------------------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("name", CHOSEN)
def test_notebook_in_jupyterlab_paints_fits_and_marks_under_load(page, jupyter_server, name):
    jupyter_server.restore(name)  # as committed: no outputs or widget state of an earlier test
    _open(page, jupyter_server.lab_url(f"{name}.ipynb"))
    seconds = _run_all(page)
    print(f"{name}: ran in {seconds:.0f} s in JupyterLab under load")
    failures = _check_notebook(page, name, "lab")
    if name == "01_tour":
        _move_budget_slider(page)
        assert page.locator(".jp-Notification-Toast", has_text="news").count() == 0, "JupyterLab's news pop-up"
    if name == "11_run_it_at_home":
        _move_offload_slider(page)
    if name.startswith("ja/"):
        failures += _english_left_in_japanese_views(page, name)
    failures += [f"console: {e}" for e in page.console_errors]
    page.console_errors.clear()
    if name == CHOSEN[0]:  # the first one is also saved, and reopened with no kernel
        failures += _saved_and_reopened(page, jupyter_server, name)
    _stop_kernels(jupyter_server)
    _finish(name, failures)


def test_tour_in_notebook_7_paints_fits_and_marks_under_load(page, jupyter_server):
    if "01_tour" not in CHOSEN:
        pytest.skip("the tour is not among QNEXT_LAB_BROWSER_NOTEBOOKS")
    jupyter_server.restore("01_tour")  # the lab test saved it with outputs and widget state; start as committed
    _open(page, jupyter_server.notebook7_url("01_tour.ipynb"))
    assert page.locator("#main-panel, .jp-NotebookPanel").count(), "not Notebook 7's page"
    seconds = _run_all(page)
    print(f"01_tour: ran in {seconds:.0f} s in Notebook 7 under load")
    failures = _check_notebook(page, "01_tour", "nb7")
    _shot(page, "nb7_01_tour_top")
    failures += [f"console: {e}" for e in page.console_errors]
    page.console_errors.clear()
    _stop_kernels(jupyter_server)
    _finish("nb7 01_tour", failures)


def _stop_kernels(server) -> None:
    for session in server.api("sessions"):
        server.api(f"sessions/{session['id']}", method="DELETE")


def _saved_and_reopened(page, server, name: str) -> list[str]:
    """Save, stop the kernel, reload: every view is drawn from the saved widget state, in its final state."""
    page.evaluate("window.jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_timeout(3000)
    saved = json.loads((server.root / f"{name}.ipynb").read_text())
    failures = []
    if "application/vnd.jupyter.widget-state+json" not in saved.get("metadata", {}).get("widgets", {}):
        return [f"{name}: saved without widget state (jupyter-config saveState not applied)"]
    missing = missing_widget_models(saved)
    if missing:  # an output shows a model the saved state lacks (a widget closed after it was displayed)
        failures.append(f"{name} saved: outputs refer to widget models missing from the saved state: {missing[:5]}")
    _stop_kernels(server)
    page.goto(server.lab_url(f"{name}.ipynb"))
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget", timeout=120_000)
    page.wait_for_selector(".qnext-view", timeout=120_000)
    page.wait_for_timeout(3000)
    body = page.locator(".jp-Notebook").inner_text()
    race = ""
    if "model not found" in body:  # which outputs, and does the page's widget manager hold their models by now
        found = page.evaluate(_NOT_FOUND)
        print(f"{name} reopened, outputs showing 'model not found': {found}")
        held = [held for cell in found for held in cell["managerHoldsItNow"]]
        if held and all(held) and not missing:  # saved and loaded, but the renderer gave up before: upstream
            race = " (restore race: the page's widget manager holds every model; docs/front_ends.md)"
        failures.append(f"{name} reopened: shows 'model not found' in cells {[c['cell'] for c in found]}{race}")
    for bad in ("generating…", "working…") + (() if race else ("Error displaying widget",)):
        if bad in body:
            failures.append(f"{name} reopened: shows {bad!r}")
    failures += [f"reopened: {f}" for f in _check(page, ".jp-Notebook", f"{name} reopened")]
    if page.locator(".jp-Notebook .qnext-answer-box").count() == 0 and name.endswith("01_tour"):
        failures.append(f"{name} reopened: no answers shown{race}")
    for error in page.console_errors:
        failures.append(f"reopened, console: {error}{race if 'model not found' in error else ''}")
    page.console_errors.clear()
    _shot(page, f"lab_{name}_reopened", page.locator(".qnext-view").first.element_handle())
    return failures


# The cells whose outputs show "model not found" after a reopen: whether the page's widget manager holds their
# models now (loaded from the saved state after the renderer gave up), and whether it says it has restored.
_NOT_FOUND = """async () => {
  let manager = null;
  const failed = new Set();
  const visit = async (w, cell) => {
    if (w._manager && w._manager.promise) {
      manager = manager || await w._manager.promise;
      if (w.node.textContent.includes('model not found')) { failed.add(cell); }
    }
    for (const child of (w.children ? Array.from(w.children()) : [])) { await visit(child, cell); }
  };
  const cells = window.jupyterapp.shell.currentWidget.content.widgets;
  for (let i = 0; i < cells.length; i++) { await visit(cells[i], i); }
  return Array.from(failed).map(i => {
    const ids = (cells[i].model.outputs ? cells[i].model.outputs.toJSON() : [])
      .map(o => o.data && o.data['application/vnd.jupyter.widget-view+json'])
      .filter(v => v).map(v => v.model_id);
    return {cell: i, restored: manager.restoredStatus, managerHoldsItNow: ids.map(id => manager.has_model(id))};
  });
}"""


_LATIN_WORD = re.compile(r"\b[A-Za-z]{4,}\b")
# names a Japanese reader sees in Latin letters anyway: the kit, models, methods named after people, units
_ALLOWED_LATIN = {
    "qnext", "tiny", "top", "MoE", "token", "tokens", "expert", "experts",
    "Qwen", "Next", "Belady", "NVMe", "DeltaNet",
}  # fmt: skip
# Every label of a widget (descriptions, buttons, tabs) and every figure's title, axis titles, legend, colour bar
# title and annotations in the notebook, the kit's views and the notebook's own figures alike.
_LABELS = """() => Array.from(document.querySelectorAll(
    '.jp-Notebook .widget-label, .jp-Notebook .jupyter-widgets button, .jp-Notebook .lm-TabBar-tab,'
    + ' .jp-Notebook .js-plotly-plot :is(.gtitle, .g-xtitle, .g-ytitle, .legendtext, .cbtitle, .annotation-text)'))
  .filter(e => e.offsetParent !== null || e.closest('svg')).map(e => e.textContent.trim()).filter(t => t)"""


def _english_left_in_japanese_views(page, name: str) -> list[str]:
    """Labels and figure words in a Japanese notebook (buttons, tabs, titles, axes, legends): no English but names."""
    english = sorted({t for t in page.evaluate(_LABELS) for w in _LATIN_WORD.findall(t) if w not in _ALLOWED_LATIN})
    return [f"{name}: English left in the views: {english[:12]}"] if english else []
