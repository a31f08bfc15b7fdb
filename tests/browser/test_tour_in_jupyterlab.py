"""01_tour in a real JupyterLab and headless Chromium, as a class would see it on a projector.

Every cell runs; then, at 1280 px, at a projector's 1024 px and in the dark theme, every widget of the tour
(RoutingHeatmap, ThinkCompare, BudgetTuner) and every tab of lab() is checked: each plotly figure is drawn and
no wider than the pane that holds it, no pane scrolls sideways, every answer carries its right/wrong mark, the
dark theme reaches both the HTML panes and the figures, and moving the budget slider changes the answer.
Screenshots of each view go to tests/browser/artifacts/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import qnext_lab

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"  # git-ignored
NOTEBOOK = os.environ.get("QNEXT_LAB_BROWSER_NOTEBOOK", "01_tour.ipynb")
VIEWS = [".qnext-routing-heatmap", ".qnext-think-compare", ".qnext-budget-tuner"]

# For every plotly figure inside a kit widget: its drawn width, the width of the box that holds it, and of the
# notebook output area. The box is the figure widget's parent element; the output area is the cell's output.
_FIGURE_FITS = """
(root) => Array.from(root.querySelectorAll('.js-plotly-plot')).filter(p => p.offsetParent !== null).map(p => {
  const svg = p.querySelector('svg.main-svg');
  const box = p.closest('.widget-box, .widget-vbox, .widget-hbox') || p.parentElement;
  const out = p.closest('.jp-OutputArea-output');
  return {svg: svg ? svg.getBoundingClientRect().width : -1, box: box.getBoundingClientRect().width,
          out: out ? out.getBoundingClientRect().width : -1, traces: (p.data || []).length,
          title: (p.layout && p.layout.title && p.layout.title.text) || '',
          font: (p._fullLayout && p._fullLayout.font && p._fullLayout.font.color) || ''};
})
"""
# Boxes that scroll sideways (content wider than the box): the clipped panes of issue 13.
_SIDEWAYS = """
(root) => Array.from(root.querySelectorAll('.widget-box, .widget-hbox, .widget-vbox, .jp-OutputArea-output'))
  .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 2)
  .map(e => (e.className || '').toString().slice(0, 80) + ' ' + e.scrollWidth + '>' + e.clientWidth)
"""


def _bundled_model_present() -> bool:
    return (Path(qnext_lab.__file__).parent / "tiny" / "qnext-tiny" / "config.json").is_file()


def _run_all_and_wait(page, timeout_s: float) -> None:
    page.wait_for_function(
        "window.jupyterapp && window.jupyterapp.shell.currentWidget"
        " && window.jupyterapp.shell.currentWidget.sessionContext"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session",
        timeout=60_000,
    )
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:  # done when every code cell shows a number: no "[*]" and no "[ ]"
        prompts = page.eval_on_selector_all(".jp-CodeCell .jp-InputPrompt", "els => els.map(e => e.textContent)")
        if prompts and all(p.strip().startswith("[") and p.strip()[1:-2].strip().isdigit() for p in prompts):
            return
        time.sleep(1)
    raise AssertionError(f"cells still running after {timeout_s} s: {prompts}")


def _wait_for_answers(page, timeout_s: float = 120) -> None:
    """Until every answer box on the page carries its verdict (the runs in the background are done)."""
    page.wait_for_function(
        "() => { const boxes = Array.from(document.querySelectorAll('.qnext-answer-box'))"
        ".filter(b => b.offsetParent !== null);"
        " return boxes.length > 0 && boxes.every(b => b.querySelector('.qnext-verdict')); }",
        timeout=timeout_s * 1000,
    )


def _check_view(page, selector: str, shot: str, failures: list[str]) -> None:
    view = page.locator(selector).first
    view.scroll_into_view_if_needed()
    handle = view.element_handle()
    try:  # drawn at the pane's width: PageWatch measured the pane, the view made its figures anew at that width
        page.wait_for_function(
            "(root) => { const plots = Array.from(root.querySelectorAll('.js-plotly-plot'))"
            ".filter(p => p.offsetParent !== null);"
            " return plots.every(p => { const svg = p.querySelector('svg.main-svg');"
            " const box = p.closest('.widget-box, .widget-vbox, .widget-hbox') || p.parentElement;"
            " return p.data && p.data.length > 0 && svg"
            " && svg.getBoundingClientRect().width <= box.getBoundingClientRect().width + 1; }); }",
            arg=handle,
            timeout=90_000,
        )
    except Exception:  # reported below, figure by figure
        pass
    page.wait_for_timeout(300)
    figures = page.evaluate(_FIGURE_FITS, handle)
    for f in figures:
        if f["svg"] <= 0 or f["traces"] == 0:
            failures.append(f"{shot}: figure {f['title']!r} not drawn")
        elif f["svg"] > f["box"] + 1 or (f["out"] > 0 and f["svg"] > f["out"] + 1):
            failures.append(f"{shot}: figure {f['title']!r} is {f['svg']:.0f} px in a {f['box']:.0f} px pane")
    sideways = page.evaluate(_SIDEWAYS, handle)
    failures += [f"{shot}: scrolls sideways: {s}" for s in sideways]
    for box in view.locator(".qnext-answer-box").all():
        if box.is_visible() and box.locator(".qnext-verdict").count() == 0:
            failures.append(f"{shot}: an answer without its right/wrong mark: {box.inner_text()[:80]!r}")
    _screenshots(page, handle, shot)


def _screenshots(page, handle, shot: str) -> None:
    """The view as a reader scrolls through it: viewport-sized pictures from its top, at most three."""
    page.evaluate("(el) => el.scrollIntoView({block: 'start'})", handle)
    page.wait_for_timeout(300)
    height = page.evaluate("(el) => el.getBoundingClientRect().height", handle)
    step = page.viewport_size["height"] - 160  # JupyterLab's menus and toolbar take the top of the window
    for part in range(min(3, max(1, int(height // step) + 1))):
        page.screenshot(path=str(ARTIFACTS / f"{shot}{'' if part == 0 else f'_{part + 1}'}.png"))
        box = handle.bounding_box()
        page.mouse.move(box["x"] + 20, min(box["y"] + 200, page.viewport_size["height"] - 80) if box else 400)
        page.mouse.wheel(0, step)  # the notebook scrolls inside JupyterLab, not the page
        page.wait_for_timeout(300)


def _check_lab(page, tag: str, failures: list[str]) -> None:
    dash = page.locator(".qnext-lab").first
    dash.scroll_into_view_if_needed()
    tabs = dash.locator(".lm-TabBar-tab")
    for i in range(tabs.count()):
        tabs.nth(i).click()
        page.wait_for_timeout(600)
        if i == 0:
            _wait_for_answers(page)
        _check_view(page, ".qnext-lab", f"{tag}_lab_tab{i}", failures)
        label = tabs.nth(i).inner_text()
        width = tabs.nth(i).evaluate("t => [t.scrollWidth, t.clientWidth]")
        if "…" in label or width[0] > width[1] + 2:
            failures.append(f"{tag}: lab tab {i} label cut: {label!r}")
    verdicts = dash.locator(".qnext-expert-lab .qnext-verdict")
    if dash.locator(".qnext-expert-lab").is_visible() and verdicts.count() < 2:
        failures.append(f"{tag}: the experts-off tab shows {verdicts.count()} right/wrong marks, expected 2")
    tabs.nth(0).click()


def _check_everything(page, tag: str) -> list[str]:
    failures: list[str] = []
    _wait_for_answers(page)
    for selector in VIEWS:
        _check_view(page, selector, f"{tag}_{selector.strip('.').removeprefix('qnext-')}", failures)
    _check_lab(page, tag, failures)
    return failures


def _move_budget_slider(page) -> None:
    tuner = page.locator(".qnext-budget-tuner").first
    tuner.scroll_into_view_if_needed()
    before = tuner.locator(".qnext-answer").first.inner_text()
    handle = tuner.locator(".noUi-handle").first
    handle.focus()
    handle.press("Home")  # budget 0: the model must answer without thinking
    page.wait_for_function(
        "() => { const t = document.querySelector('.qnext-budget-tuner');"
        " return t && t.innerHTML.includes('budget <b>0</b>') && t.querySelector('.qnext-answer-box .qnext-verdict'); }",
        timeout=60_000,
    )
    after = tuner.locator(".qnext-answer").first.inner_text()
    tuner.screenshot(path=str(ARTIFACTS / "budget_tuner_at_0.png"))
    assert tuner.locator(".qnext-tally").inner_text().strip(), "the budget view does not count its right answers"
    assert after != before or "qnext-right" in tuner.inner_html(), f"the answer did not change at budget 0: {after!r}"


def test_tour_fits_at_1280_and_1024_px_in_light_and_dark_with_marked_answers(jupyter_lab, browser):
    if NOTEBOOK == "01_tour.ipynb" and not _bundled_model_present():
        pytest.skip("the bundled qnext-tiny checkpoint is not trained yet (qnext_lab/tiny/qnext-tiny/config.json)")
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(60_000)
    try:
        page.goto(jupyter_lab.notebook_url(NOTEBOOK))
        _run_all_and_wait(page, timeout_s=300)
        errors = page.query_selector_all(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        problems = [
            e.inner_text()
            for e in errors
            if "Traceback" in e.inner_text()
            or "serialization failed" in e.inner_text()
            or "falling back to its reference" in e.inner_text()
            or "Loading weights" in e.inner_text()
        ]
        assert not problems, problems[0]
        news = page.locator(".jp-Notification-Toast", has_text="news")
        assert news.count() == 0, "JupyterLab's news pop-up is shown"

        failures = _check_everything(page, "1280")
        page.set_viewport_size({"width": 1024, "height": 768})
        page.wait_for_timeout(1500)
        failures += _check_everything(page, "1024")
        page.evaluate("window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
        page.wait_for_function("document.body.getAttribute('data-jp-theme-light') === 'false'", timeout=30_000)
        page.wait_for_timeout(2000)  # PageWatch tells Python, Python restyles the figures
        failures += _check_everything(page, "1024_dark")
        fonts = page.evaluate(
            "() => Array.from(document.querySelectorAll('.qnext-routing-heatmap .js-plotly-plot'))"
            ".map(p => p._fullLayout.font.color)"
        )
        if not fonts or any(color.lower() not in ("#e6e6e6", "rgb(230, 230, 230)") for color in fonts):
            failures.append(f"dark theme: figures keep their light text colour: {fonts}")
        pane_color = page.evaluate("() => getComputedStyle(document.querySelector('.qnext-answer-box')).color")
        rgb = [int(v) for v in pane_color[pane_color.index("(") + 1 : pane_color.index(")")].split(",")[:3]]
        if sum(rgb) / 3 < 128:
            failures.append(f"dark theme: answer text is dark on a dark page ({pane_color})")
        page.screenshot(path=str(ARTIFACTS / "01_tour_dark.png"), full_page=False)
        _move_budget_slider(page)
        assert not failures, "\n".join(failures)
    except BaseException:
        page.screenshot(path=str(ARTIFACTS / "failure.png"), full_page=True)
        (ARTIFACTS / "failure.html").write_text(page.content())
        raise
    finally:
        page.close()
