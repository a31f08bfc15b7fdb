"""Claim: every notebook's default path fits a class hour's slot: it runs top to bottom within 3 minutes on a
2-core machine (the kit's reference class: a school laptop or a busy Binder).

Executes each notebook headless with nbclient, as a student's "Run All" would (no smoke-run switches: the
default path, shipped results included; ``RECOMPUTE`` cells stay off), from its own folder, with the bundled
model's thread setting of the test suite (one torch thread: qnext-tiny's matrices are small). Reports wall time
per notebook, whether it raised, and the machine's load average before and after each run (a shared machine's
load moves the times: say so beside them). Prints a Markdown table for ``docs/benchmarks.md``.

    nice -n 5 python benchmarks/bench_notebooks.py                       # every notebook
    python benchmarks/bench_notebooks.py 04_budget 09_fine_tune ja/08_why_it_is_fast
"""

import argparse
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
LIMIT_S = 180  # a notebook's default path on 2 CPU cores


def notebooks(names: list[str]) -> list[Path]:
    found = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "notebooks").glob("ja/*.ipynb"))
    if not names:
        return found
    by_name = {p.relative_to(ROOT / "notebooks").with_suffix("").as_posix(): p for p in found}
    missing = [n for n in names if n not in by_name]
    if missing:
        sys.exit(f"no notebook named {missing}; choose from {sorted(by_name)}")
    return [by_name[n] for n in names]


def run(path: Path, timeout: int, threads: int, keep: Path | None = None) -> dict:
    book = nbformat.read(path, as_version=4)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
    }
    env.pop("QNEXT_LAB_QUICK", None)  # the student's path, not the test suite's smoke run
    client = NotebookClient(
        book, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    error = ""
    try:
        client.execute(env=env)
    except Exception as exc:  # a failing or timed-out notebook is a result to report, not a crash of the benchmark
        error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:80] if str(exc) else ''}"
    seconds = time.perf_counter() - start
    if keep is not None:  # the executed copy, to read what the notebook printed
        out = keep / path.relative_to(ROOT / "notebooks")
        out.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(book, out)
    return {
        "notebook": path.relative_to(ROOT / "notebooks").with_suffix("").as_posix(),
        "seconds": seconds,
        "error": error,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="notebooks (e.g. 04_budget, ja/01_tour); default: all")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell before giving up")
    parser.add_argument("--threads", type=int, default=1, help="torch threads in the kernel (the test suite's 1)")
    parser.add_argument("--keep", type=Path, help="write each executed notebook (with outputs) under this folder")
    args = parser.parse_args()
    rows = []
    for path in notebooks(args.names):
        row = run(path, args.timeout, args.threads, args.keep)
        rows.append(row)
        print(f"{row['notebook']}: {row['seconds']:.0f} s {row['error']}", file=sys.stderr, flush=True)
    cores = os.cpu_count()
    print(
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, {cores} CPU "
        f"cores, Python {platform.python_version()}, {args.threads} torch thread(s) per kernel; load average "
        "(1 min) before and after each notebook in the last column.\n"
    )
    print(f"| notebook | wall time | within {LIMIT_S} s | raised | load before / after |")
    print("|---|---:|:---:|---|---:|")
    for r in rows:
        ok = "yes" if r["seconds"] <= LIMIT_S and not r["error"] else "**no**"
        print(
            f"| `{r['notebook']}` | {r['seconds']:.0f} s | {ok} | {r['error'] or 'no'} | "
            f"{r['load_before']:.1f} / {r['load_after']:.1f} |"
        )


if __name__ == "__main__":
    main()
