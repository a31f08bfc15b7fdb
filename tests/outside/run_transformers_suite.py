"""Run transformers' own MoE modeling tests with "qnext" forced on every experts call (an outside judge).

The test files are those of the installed transformers version. They are not in the wheel; this script
materialises them under ``.cache/transformers-tests/v<version>/`` (ignored by git) from, first found:

1. ``tests/outside/transformers_tests/`` in this repository, when it holds a copy for this version (its
   ``VERSION`` file; Apache-2.0 files vendored with their headers, see ``--vendor``);
2. a transformers checkout at that version: ``--repo PATH`` or ``QNEXT_LAB_TRANSFORMERS_REPO``
   (``git clone --depth 1 --branch v5.25.0 https://github.com/huggingface/transformers``).

The common test modules also ship in transformers' sdist on PyPI, but the model test folders,
``causal_lm_tester.py`` and ``generation/test_utils.py`` do not, so one of the two sources is needed; without
either the script says so and exits with status 2 (the pytest wrapper skips).

Then it runs pytest there with ``-p qnext_experts_plugin`` (this folder): ``--subset default`` keeps the tests
named in ``default_subset.txt`` (a few minutes on 2 cores: the default suite), ``--subset all`` runs every test
of the four families (the slow job, ``make test-outside``).

    python tests/outside/run_transformers_suite.py --subset default
    python tests/outside/run_transformers_suite.py --repo ~/src/transformers --vendor   # refresh the copy
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
VENDORED = HERE / "transformers_tests"
CACHE = REPO_ROOT / ".cache" / "transformers-tests"
ENV = "QNEXT_LAB_TRANSFORMERS_REPO"
MODELS = ("qwen3_moe", "qwen3_next", "mixtral", "qwen2_moe")
# what the four model test files import, relative to a transformers checkout
NEEDED = [
    "conftest.py",
    "tests/__init__.py",
    "tests/causal_lm_tester.py",
    "tests/generation/__init__.py",
    "tests/generation/test_utils.py",
    "tests/models/__init__.py",
    *[f"tests/models/{m}/__init__.py" for m in MODELS],
    *[f"tests/models/{m}/test_modeling_{m}.py" for m in MODELS],
]
NEEDED_GLOBS = ["tests/test_*_common.py", "tests/test_*_mixin.py"]  # the common testers and their mixins


def installed_version() -> str:
    import transformers

    return transformers.__version__


def _checkout_version(repo: Path) -> str | None:
    init = repo / "src" / "transformers" / "__init__.py"
    if not init.is_file():
        return None
    found = re.search(r'^__version__\s*=\s*"([^"]+)"', init.read_text(), re.MULTILINE)
    return found.group(1) if found else None


def _files(root: Path) -> list[Path]:
    out = [Path(p) for p in NEEDED]
    for pattern in NEEDED_GLOBS:
        out += sorted(p.relative_to(root) for p in root.glob(pattern))
    return out


def source(version: str, repo: str | None) -> tuple[Path | None, str]:
    """Where this version's test files are: (folder laid out like a checkout, "") or (None, why not)."""
    if (VENDORED / "VERSION").is_file():
        vendored = (VENDORED / "VERSION").read_text().strip()
        if vendored == version:
            return VENDORED, ""
        why = f"the vendored copy is for transformers {vendored}, the installed one is {version}"
    else:
        why = "no vendored copy (tests/outside/transformers_tests/)"
    repo = repo or os.environ.get(ENV)
    if not repo:
        return None, f"{why}; set {ENV} or --repo to a transformers checkout at v{version}"
    path = Path(repo).expanduser()
    got = _checkout_version(path)
    if got != version:
        return (
            None,
            f"{path} is {'not a transformers checkout' if got is None else 'transformers ' + got}; need v{version}",
        )
    return path, ""


def materialise(src: Path, version: str) -> Path:
    """Copy the needed test files into the cache (fresh each time); the folder to run pytest in."""
    dest = CACHE / f"v{version}"
    if dest.exists():
        shutil.rmtree(dest)
    missing = []
    for rel in _files(src):
        if not (src / rel).is_file():
            missing.append(str(rel))
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel, dest / rel)
    if missing:
        raise SystemExit(f"{src} lacks {missing[:5]}: not the transformers layout this script expects")
    return dest


def vendor(src: Path, version: str) -> None:
    """Refresh tests/outside/transformers_tests/ from a checkout (Apache-2.0 files, headers kept)."""
    if VENDORED.exists():
        shutil.rmtree(VENDORED)
    for rel in _files(src):
        (VENDORED / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel, VENDORED / rel)
    (VENDORED / "VERSION").write_text(version + "\n")
    (VENDORED / "README.md").write_text(
        f"Test files of huggingface/transformers v{version} (https://github.com/huggingface/transformers, "
        "Apache License 2.0, copyright The HuggingFace Team and the model authors; each file keeps its header), "
        "copied unmodified by tests/outside/run_transformers_suite.py --vendor for the outside suite.\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", help=f"transformers checkout at the installed version (or {ENV})")
    parser.add_argument("--subset", choices=("default", "all"), default="default")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ", ".join(MODELS))
    parser.add_argument("--vendor", action="store_true", help="copy the files into tests/outside/transformers_tests/")
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments (after --)")
    args = parser.parse_args(argv)
    version = installed_version()
    src, why = source(version, args.repo)
    if src is None:
        print(f"transformers' test files for v{version} are not available here: {why}", file=sys.stderr)
        return 2
    if args.vendor:
        if src == VENDORED:
            print("--vendor needs --repo (a checkout), not the vendored copy itself", file=sys.stderr)
            return 2
        vendor(src, version)
        print(f"vendored {len(_files(src))} files of transformers v{version} into {VENDORED}")
        return 0
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        print(f"--models: unknown {unknown}; known: {', '.join(MODELS)}", file=sys.stderr)
        return 2
    root = materialise(src, version)
    cmd = [sys.executable, "-m", "pytest", "-p", "qnext_experts_plugin", "-q", "-rfE", "-p", "no:cacheprovider"]
    if args.subset == "default":
        cmd += ["--qnext-subset", str(HERE / "default_subset.txt")]
    cmd += [f"tests/models/{m}/test_modeling_{m}.py" for m in models] + args.pytest_args
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.call(cmd, cwd=root, env=env)


if __name__ == "__main__":
    sys.exit(main())
