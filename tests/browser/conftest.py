"""One Jupyter server for the browser tests (JupyterLab 4 at /lab, Notebook 7 at /notebooks), a headless Chromium,
and a bounded CPU burner so every view is painted while the machine is busy.

The server listens on 127.0.0.1 with a random token and a free port, serves a scratch copy of the notebooks (so
autosave never touches the committed ones), uses its own settings (cells always in the DOM) and the kit's defaults
from jupyter-config/ (as `make lab` starts it: no news pop-up, widget state saved with the notebook).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# One busy core for the whole browser run, never longer than this (a school laptop, a shared Binder); set
# QNEXT_LAB_BROWSER_BURNERS=0 to measure on a quiet machine.
BURNERS = int(os.environ.get("QNEXT_LAB_BROWSER_BURNERS", "1"))
BURN_LIMIT_S = 40 * 60
_BURN = "import sys, time\nend = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < end:\n    sum(i * i for i in range(20000))\n"


@dataclass
class Server:
    url: str
    token: str
    root: Path

    def lab_url(self, name: str) -> str:
        """``name`` in JupyterLab 4, alone (``reset``: no notebook of an earlier test restored beside it)."""
        return f"{self.url}/lab/tree/{name}?token={self.token}&reset"

    def notebook7_url(self, name: str) -> str:
        """``name`` in Jupyter Notebook 7 (what `jupyter notebook` opens)."""
        return f"{self.url}/notebooks/{name}?token={self.token}"

    def restore(self, name: str) -> None:
        """Put the committed ``name`` back in the served folder (an earlier test may have saved it run)."""
        shutil.copy2(ROOT / "notebooks" / f"{name}.ipynb", self.root / f"{name}.ipynb")

    def api(self, path: str, method: str = "GET") -> object:
        request = urllib.request.Request(f"{self.url}/api/{path}?token={self.token}", method=method)
        with urllib.request.urlopen(request, timeout=30) as reply:
            body = reply.read()
        return json.loads(body) if body else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def cpu_load():
    """A bounded background burner (``BURNERS`` processes, each stops by itself after ``BURN_LIMIT_S``)."""
    procs = [subprocess.Popen([sys.executable, "-c", _BURN, str(BURN_LIMIT_S)]) for _ in range(BURNERS)]
    try:
        yield len(procs)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="session")
def jupyter_server(tmp_path_factory) -> Server:
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium (apt-get install chromium chromium-driver)")
    work = tmp_path_factory.mktemp("jupyter")
    root = work / "notebooks"
    shutil.copytree(ROOT / "notebooks", root)
    settings = work / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    port, token = _free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "JUPYTERLAB_SETTINGS_DIR": str(work / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(work / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(work / "runtime"),
        "JUPYTER_CONFIG_PATH": str(ROOT / "jupyter-config"),  # the kit's own defaults, as `make lab` uses them
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "QNEXT_LAB_QUICK": "1",  # notebooks that train run their short smoke version (as tests/test_notebooks.py)
    }  # kernels inherit: 1 thread is fastest for qnext-tiny
    log = open(work / "jupyter.log", "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--LabApp.expose_app_in_browser=True",
            "--JupyterNotebookApp.expose_app_in_browser=True",
            "--ServerApp.port_retries=0",
            "--allow-root",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"Jupyter did not start:\n{(work / 'jupyter.log').read_text()[-3000:]}"
                    ) from None
                time.sleep(0.5)
        yield Server(url, token, root)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium (apt-get install chromium chromium-driver)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
