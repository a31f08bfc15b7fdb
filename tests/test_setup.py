"""The set-up files agree with each other: pyproject's ranges, the lock files `make` installs from, Binder's
requirements; and under `make test` the running environment is the locked one.

Binder cannot be built offline and the lock cannot be re-resolved without the network, so this checks what
can be checked here: every pin inside its range, every dependency pinned, CPU torch on Binder, no triton in
the lab lock (CPU machines never run it), and the installed versions equal to the pins.
"""

from __future__ import annotations

import os
import re
from importlib import metadata
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _pins(path: Path) -> dict[str, Version]:
    """name -> pinned version of a requirements file, following `-r` includes."""
    pins: dict[str, Version] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            pins.update(_pins(path.parent / line[3:].strip()))
        elif not line.startswith("-"):
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", f"{path.name}: {line} is not an exact pin"
            pins[canonicalize_name(req.name)] = Version(spec.version)
    return pins


def _requirements(extra: str | None) -> list[Requirement]:
    """The project's dependencies (extra=None) or one extra's, self-references expanded."""
    reqs = PROJECT["dependencies"] if extra is None else PROJECT["optional-dependencies"][extra]
    out = []
    for req in map(Requirement, reqs):
        if canonicalize_name(req.name) == "qnext-lab":
            for name in req.extras:
                out += _requirements(name)
        else:
            out.append(req)
    return out


def _check_pinned(reqs: list[Requirement], pins: dict[str, Version], where: str) -> None:
    for req in reqs:
        if req.marker is not None and not req.marker.evaluate():
            continue
        name = canonicalize_name(req.name)
        assert name in pins, f"{where} does not pin {name}; run `make lock`"
        assert req.specifier.contains(pins[name], prereleases=True), f"{where}: {name} {pins[name]} outside {req}"


def test_lab_lock_pins_the_kit_and_its_notebooks_within_their_ranges():
    pins = _pins(ROOT / "requirements.lock")
    _check_pinned(_requirements(None) + _requirements("lab"), pins, "requirements.lock")
    assert "triton" not in pins, "triton belongs to the test lock: CPU machines never run it"
    assert not str(pins["torch"]).count("+"), "the lock pins torch without a build label (CPU or CUDA by machine)"


def test_test_lock_adds_the_test_tools_within_their_ranges():
    lab, test = _pins(ROOT / "requirements.lock"), _pins(ROOT / "requirements-test.lock")
    assert all(test[name] == version for name, version in lab.items()), "the test lock must not re-pin the lab lock"
    _check_pinned(_requirements("test"), test, "requirements-test.lock")


def test_binder_installs_cpu_torch_and_the_lab_lock():
    binder = ROOT / "binder"
    lines = [ln.strip() for ln in (binder / "requirements.txt").read_text().splitlines()]
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines
    assert "-r ../requirements.lock" in lines
    torch = next(Requirement(ln) for ln in lines if ln.startswith("torch=="))
    assert str(torch.specifier) == f"=={_pins(ROOT / 'requirements.lock')['torch']}+cpu"
    python = re.fullmatch(r"python-(\d+\.\d+)", (binder / "runtime.txt").read_text().strip())
    assert python and SpecifierSet(PROJECT["requires-python"]).contains(python.group(1) + ".0")
    start_page = re.search(r'default_url = "/lab/tree/(.+?)"', (binder / "postBuild").read_text())
    assert start_page and (ROOT / start_page.group(1)).is_file()
    for script in ("postBuild", "start"):
        assert os.access(binder / script, os.X_OK), f"binder/{script} must be executable"


def test_make_test_runs_on_the_locked_versions():
    """`make test` sets QNEXT_LAB_LOCKED=1: then every locked package must be installed at its pin."""
    if os.environ.get("QNEXT_LAB_LOCKED") != "1":
        pytest.skip("not run through `make test` (QNEXT_LAB_LOCKED unset): the environment is not the lock's")
    pins = _pins(ROOT / "requirements-test.lock")
    wrong = {}
    for name, version in pins.items():
        try:
            installed = Version(metadata.version(name))
        except metadata.PackageNotFoundError:
            wrong[name] = "missing"
            continue
        if Version(installed.base_version if name == "torch" else str(installed)) != version:
            wrong[name] = str(installed)
    assert not wrong, f"installed versions differ from requirements-test.lock: {wrong}; re-run `make test`"
