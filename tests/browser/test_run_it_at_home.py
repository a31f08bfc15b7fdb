"""11_run_it_at_home in a real JupyterLab and headless Chromium: every cell runs without a traceback, and the
OffloadPlanner paints at 1280 px and at a projector's 1024 px, light and dark: each figure drawn, none wider than
its pane, nothing scrolling sideways; moving its slider changes the predicted speed. Screenshots go to
tests/browser/artifacts/ (git-ignored)."""

from __future__ import annotations

import pytest
from test_tour_in_jupyterlab import ARTIFACTS, _bundled_model_present, _check_view, _run_all_and_wait

pytestmark = pytest.mark.browser
VIEW = ".qnext-offload-planner"


def test_run_it_at_home_paints_at_1280_and_1024_px(jupyter_lab, browser):
    if not _bundled_model_present():
        pytest.skip("the bundled qnext-tiny checkpoint is not trained yet")
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(60_000)
    try:
        page.goto(jupyter_lab.notebook_url("11_run_it_at_home.ipynb"))
        _run_all_and_wait(page, timeout_s=300)
        errors = page.query_selector_all(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        problems = [e.inner_text() for e in errors if "Traceback" in e.inner_text()]
        assert not problems, problems[0]
        failures: list[str] = []
        _check_view(page, VIEW, "home_1280", failures)
        page.set_viewport_size({"width": 1024, "height": 768})
        page.wait_for_timeout(1500)
        _check_view(page, VIEW, "home_1024", failures)
        page.evaluate("window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
        page.wait_for_function("document.body.getAttribute('data-jp-theme-light') === 'false'", timeout=30_000)
        page.wait_for_timeout(2000)
        _check_view(page, VIEW, "home_1024_dark", failures)
        assert not failures, "\n".join(failures)
        planner = page.locator(VIEW).first
        before = planner.inner_text()
        handle = planner.locator(".noUi-handle").first
        handle.focus()
        handle.press("End")  # every expert on the GPU
        page.wait_for_function(
            "(b) => document.querySelector('.qnext-offload-planner').innerText !== b", arg=before, timeout=60_000
        )
        assert "tokens/s" in planner.inner_text()
    finally:
        page.evaluate("window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Light'})")
        page.close()
