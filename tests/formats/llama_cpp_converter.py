"""llama.cpp's own ``convert_hf_to_gguf.py``, located for the tests (never committed, never compiled).

The script ships in the ``llama-cpp-python`` sdist under ``vendor/llama.cpp/`` with its ``conversion/``
package and its own ``gguf-py``; it is plain Python (torch + numpy), so the tests run it as a subprocess on a
checkpoint directory. Where it comes from, first found wins:

1. ``QNEXT_LAB_LLAMA_CPP``: a llama.cpp checkout (a folder with ``convert_hf_to_gguf.py``) or an sdist tarball;
2. ``.cache/llama-cpp-python/`` in the repository (ignored by git): an sdist unpacked by an earlier run;
3. ``pip download --no-deps --no-binary :all: llama-cpp-python==PINNED`` into that folder (needs PyPI).

``converter()`` returns the script's path or None with the reason (``pytest.skip`` it).

    script, why = converter()
    convert(script, checkpoint_dir, out_gguf, "--outtype", "f32")
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

# The sdist the tests were written against (llama.cpp's converter changes layouts between releases).
PINNED = "0.3.36"
ENV = "QNEXT_LAB_LLAMA_CPP"
CACHE = Path(__file__).resolve().parents[2] / ".cache" / "llama-cpp-python"
SCRIPT = "convert_hf_to_gguf.py"
_PACKAGES = ("conversion/", "gguf-py/")  # what the script imports from its own tree


def _unpack(sdist: Path, into: Path) -> Path | None:
    """Extract only the converter's Python (not llama.cpp's C++ sources) from an sdist; its folder."""
    with tarfile.open(sdist) as tar:
        members = []
        for m in tar.getmembers():
            _, sep, rel = m.name.partition("/vendor/llama.cpp/")
            if sep and (rel == SCRIPT or rel.startswith(_PACKAGES)):
                members.append(m)
        tar.extractall(into, members=members, filter="data")
    found = sorted(into.glob(f"*/vendor/llama.cpp/{SCRIPT}"))
    return found[-1].parent if found else None


def converter() -> tuple[Path | None, str]:
    """``(path to convert_hf_to_gguf.py, "")`` or ``(None, why it cannot run here)``."""
    given = os.environ.get(ENV)
    if given:
        p = Path(given).expanduser()
        if (p / SCRIPT).is_file():
            return p / SCRIPT, ""
        if p.is_file() and p.name.endswith(".tar.gz"):
            folder = _unpack(p, CACHE)
            return (folder / SCRIPT, "") if folder else (None, f"{p} holds no vendor/llama.cpp/{SCRIPT}")
        return None, f"{ENV}={given} is neither a llama.cpp folder with {SCRIPT} nor an sdist .tar.gz"
    found = sorted(CACHE.glob(f"llama_cpp_python-{PINNED}/vendor/llama.cpp/{SCRIPT}"))
    if found:
        return found[0], ""
    CACHE.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", str(CACHE)]
    try:
        done = subprocess.run(
            [*cmd, f"llama-cpp-python=={PINNED}"], capture_output=True, text=True, timeout=600, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"could not download the llama-cpp-python sdist ({e}); set {ENV} to a llama.cpp checkout"
    sdist = CACHE / f"llama_cpp_python-{PINNED}.tar.gz"
    if done.returncode != 0 or not sdist.is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return None, f"pip download llama-cpp-python=={PINNED} failed ({tail[0]}); set {ENV} to a llama.cpp checkout"
    folder = _unpack(sdist, CACHE)
    return (folder / SCRIPT, "") if folder else (None, f"{sdist.name} holds no vendor/llama.cpp/{SCRIPT}")


def convert(script: Path, checkpoint: Path, out: Path, *args: str) -> None:
    """Run the converter on a Hugging Face checkpoint folder; AssertionError with its output tail on failure."""
    done = subprocess.run(
        [sys.executable, str(script), str(checkpoint), "--outfile", str(out), *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0 and out.is_file(), f"convert_hf_to_gguf.py failed:\n{done.stderr[-3000:]}"
