"""What the benchmark scripts share: the median of repeated timings, and the line that says on what machine, when
and under what load a table was measured (docs/benchmarks.md keeps it above each table). Not a benchmark itself
(``make bench`` runs ``bench_*.py``); the scripts import it from their own folder.

    print(machine_line())
    seconds = median_s(lambda: work(), repeats=5)
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch


def median_s(fn: Callable[[], object], repeats: int) -> float:
    """The median wall time of ``repeats`` calls of ``fn``, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def machine_line() -> str:
    """``# <UTC time>, <processor>, <n> CPUs, load average <x>, torch threads <t>``."""
    return (
        f"# {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, torch threads {torch.get_num_threads()}"
    )
