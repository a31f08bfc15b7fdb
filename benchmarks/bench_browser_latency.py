"""Budget-slider latency as the user feels it: key press on the slider -> the new answer painted, in a real
JupyterLab in headless Chromium (goal p50 <= 300 ms on an idle 2-core machine).

``bench_widgets.py`` times the Python side only; this adds everything between: the key event in the browser,
the comm message to the kernel, the debounce (0.12 s), the answer, the state update back to the browser and the
repaint. A scratch notebook loads the bundled qnext-tiny and shows a ``BudgetTuner``; each move presses an arrow
key on the slider's handle and waits (MutationObserver, then two animation frames) until the answer box shows
that budget with its right/wrong mark. Moves below the question's thinking length re-answer from the truncated
thinking; moves above it reuse the unlimited answer: both are reported. The machine's load average is printed
before and after, since a busy machine makes every number worse.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_browser_latency.py --moves 24
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
QUESTION = "What is 4785 + 3561?"

# Resolves with ms from the key press (captured at the document, before the slider sees it) to the frame after
# the answer box shows `budget <b>target</b>` and its verdict.
_ARM = """
(target) => { window.__qnextDone = new Promise(resolve => {
  const tuner = document.querySelector('.qnext-budget-tuner');
  document.addEventListener('keydown', () => { window.__qnextT0 = performance.now(); }, {capture: true, once: true});
  const ready = () => tuner.innerHTML.includes('budget <b>' + target + '</b>')
      && tuner.querySelector('.qnext-answer-box .qnext-verdict');
  const observer = new MutationObserver(() => {
    if (ready()) {
      observer.disconnect();
      requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now() - window.__qnextT0)));
    }
  });
  observer.observe(tuner, {subtree: true, childList: true, characterData: true, attributes: true});
}); }
"""


def _notebook(path: Path, start: int, max_budget: int) -> None:
    book = nbformat.v4.new_notebook()
    book.cells = [
        nbformat.v4.new_code_cell(
            "import qnext_lab as ql\n"
            'model, tok = ql.load("tiny")\n'
            f"tuner = ql.BudgetTuner(model, tok, {QUESTION!r}, budget={start}, max_budget={max_budget}, "
            "max_new_tokens=160)\n"
            "tuner"
        )
    ]
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(book, path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _thinking_length() -> int:
    import qnext_lab as ql

    model, tok = ql.load("tiny")
    return ql.generate(model, tok, QUESTION, max_new_tokens=160).thinking_tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--moves", type=int, default=24)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    thinking_length = _thinking_length()
    start = thinking_length + 3  # six moves down cross the thinking length: half reuse, half re-answer
    work = Path(tempfile.mkdtemp(prefix="qnext-latency-"))
    _notebook(work / "latency.ipynb", start, max_budget=max(64, start + 8))
    port, token = _free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "JUPYTERLAB_SETTINGS_DIR": str(work / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(work / "ws"),
        "JUPYTER_RUNTIME_DIR": str(work / "runtime"),
        "JUPYTER_CONFIG_PATH": str(ROOT / "jupyter-config"),
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    log = open(work / "jupyter.log", "w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={work}",
            "--LabApp.expose_app_in_browser=True",
            "--ServerApp.port_retries=0",
            "--allow-root",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    load_before = os.getloadavg()
    latencies: list[tuple[int, float]] = []
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(180):
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(120_000)
            page.goto(f"{url}/lab/tree/latency.ipynb?token={token}")
            page.wait_for_function(
                "window.jupyterapp && window.jupyterapp.shell.currentWidget"
                " && window.jupyterapp.shell.currentWidget.sessionContext"
                " && window.jupyterapp.shell.currentWidget.sessionContext.session"
            )
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']")
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            page.wait_for_selector(".qnext-budget-tuner .qnext-answer-box .qnext-verdict")
            handle = page.locator(".qnext-budget-tuner .noUi-handle").first
            budget = start
            for i in range(args.moves + 2):  # the first two are warm-up (first re-answer, first paint)
                target = budget - 1 if (i // 6) % 2 == 0 else budget + 1  # sweep down and up across the length
                page.evaluate(_ARM, target)
                handle.focus()
                handle.press("ArrowLeft" if target < budget else "ArrowRight")
                ms = page.evaluate("window.__qnextDone")
                budget = target
                if i >= 2:
                    latencies.append((target, ms))
            browser.close()
    finally:
        server.terminate()
        server.wait(20)
        log.close()
    load_after = os.getloadavg()
    reanswer = [ms for b, ms in latencies if b < thinking_length]
    reused = [ms for b, ms in latencies if b >= thinking_length]
    result = {
        "date": datetime.date.today().isoformat(),
        "moves": len(latencies),
        "thinking_length": thinking_length,
        "p50_ms": statistics.median(ms for _, ms in latencies),
        "p90_ms": statistics.quantiles([ms for _, ms in latencies], n=10)[-1] if len(latencies) >= 10 else None,
        "p50_reanswer_ms": statistics.median(reanswer) if reanswer else None,
        "n_reanswer": len(reanswer),
        "p50_reused_ms": statistics.median(reused) if reused else None,
        "n_reused": len(reused),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in load_after],
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
