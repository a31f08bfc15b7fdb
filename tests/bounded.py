"""Running a dangerous case where it cannot hurt the test process: a subprocess with an address-space limit
(``RLIMIT_AS``, so an unbounded allocation ends in MemoryError) and a wall-clock timeout (a hang guard, not a
speed check). Used by the hostile-input suites (tests/*/test_*_hostile.py)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEMORY_BYTES = 4 << 30  # importing torch + transformers and loading the bundled model peaks at ~1.2 GB virtual


def run_bounded(
    args: list[str], *, memory_bytes: int = MEMORY_BYTES, timeout: float = 600
) -> subprocess.CompletedProcess:
    """``python *args`` with the repository first on the path, under ``memory_bytes`` of address space."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))

    # the repository (qnext_lab) and tests/ (random_moe.py, the one random-MoE factory the workers build from)
    path = [str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout, preexec_fn=limit, env=env
    )
