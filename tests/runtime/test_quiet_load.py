"""A plain load + generate on the bundled model prints nothing but what the user asked for, whatever the
installed transformers says when Gated DeltaNet falls back to torch on a CPU.

The filter (runtime/loading.py) matches what stays stable across releases, not a sentence; these tests hold
it against the notices the installed transformers really emits, in fresh processes (a logger's "once" state
must not leak between them). `make test-latest` runs this file at the newest versions pyproject allows.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from qnext_lab.runtime.loading import is_gpu_only_fallback

ROOT = Path(__file__).resolve().parents[2]
ENV = {
    **os.environ,
    "CUDA_VISIBLE_DEVICES": "",
    "OMP_NUM_THREADS": "1",
    "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
}


def _run(script: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=ENV, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _bundled() -> str:
    from qnext_lab.runtime.bundled import tiny_path

    try:
        return str(tiny_path())
    except FileNotFoundError:
        pytest.skip("the bundled qnext-tiny checkpoint is not trained yet")


def test_the_filter_matches_the_notices_the_installed_transformers_emits():
    """transformers alone (no qnext-lab filter): prefill + decode of Gated DeltaNet on CPU, every notice kept."""
    path = _bundled()
    done = _run(
        "import torch, transformers\n"
        f"m = transformers.AutoModelForCausalLM.from_pretrained({path!r})\n"
        "ids = torch.tensor([[1, 2, 3, 4, 5]])\n"
        "m.generate(ids, max_new_tokens=3, do_sample=False)\n"
    )
    notices = [ln for ln in done.stderr.splitlines() if "reference" in ln.lower() and "implementation" in ln.lower()]
    if not notices:
        pytest.skip("the installed transformers emits no torch-fallback notice on CPU: nothing to filter")
    assert all(is_gpu_only_fallback(n) for n in notices), notices
    # a notice that names another package, or another fallback, is not swallowed
    assert not is_gpu_only_fallback("`foo` is falling back to its reference PyTorch implementation because `bar`")
    assert not is_gpu_only_fallback("causal_conv1d produced NaN")


def test_load_and_generate_print_only_the_answer():
    _bundled()
    done = _run(
        "import qnext_lab as ql\n"
        "model, tok = ql.load('tiny')\n"
        "g = ql.generate(model, tok, 'What is 478 + 356?', thinking=True)\n"
        "print(g.answer)\n"
    )
    assert done.stderr == ""
    assert done.stdout == "834\n"
