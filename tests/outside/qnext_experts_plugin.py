"""pytest plugin: every experts forward of every model a test suite builds runs the kit's "qnext" implementation.

Loaded with ``-p qnext_experts_plugin`` (this folder on ``sys.path``) into a run of transformers' own modeling
tests (``run_transformers_suite.py``). transformers dispatches each experts call through
``ExpertsInterface.get_interface(config._experts_implementation, original_forward)``; the plugin replaces that
lookup so whatever a test asked for ("eager", "grouped_mm", "batched_mm", or nothing), the call reaches the
registered "qnext" function (looked up by name, so the runtime's own entry point is what runs), counted.
A test comparing two implementations then compares qnext with itself: that check is vacuous, not failed.

The count is how the run proves the plugin took effect: the terminal summary reports the calls and how many
tests made at least one, and the session fails if tests ran but none reached "qnext". Tests the runtime is
known to fail are marked xfail (not strict) with the defect they hit: ``KNOWN_FAILURES``.
``--qnext-subset=NAMES_FILE`` keeps only tests whose function name (parametrisation stripped) is listed.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

import qnext_lab  # noqa: F401  (registers "qnext")

CALLS: Counter[str] = Counter()  # test node id -> qnext experts calls
_current: list[str] = [""]
_ran = [0]  # tests whose call phase ran

# test function name -> the defect (qnext-lab issue 26; fixed in the house issue: the runtime's self-check
# state read as a mutable module global inside a compiled forward)
KNOWN_FAILURES = {
    "test_static_cache_no_recompile_with_smaller_length": "qnext under torch.compile: dynamo guard on the "
    "runtime's self-check global (qnext_lab.runtime.experts._CHECKED) raises IndexError (issue 26, house fix)",
    "test_generate_compile_model_forward_fullgraph": "qnext under torch.compile(fullgraph=True): guard on the "
    "runtime's self-check global and host syncs on the torch path (issue 26, house fix)",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--qnext-subset", default=None, help="file of test function names to keep (one a line)")


def pytest_configure(config: pytest.Config) -> None:
    from transformers.integrations import moe

    qnext = moe.ALL_EXPERTS_FUNCTIONS["qnext"]

    def counted(self, *args, **kwargs):
        CALLS[_current[0]] += 1
        return qnext(self, *args, **kwargs)

    def forced(self, experts_implementation, default):
        return counted

    config._qnext_original_get_interface = moe.ExpertsInterface.get_interface
    moe.ExpertsInterface.get_interface = forced


def pytest_unconfigure(config: pytest.Config) -> None:
    original = getattr(config, "_qnext_original_get_interface", None)
    if original is not None:
        from transformers.integrations import moe

        moe.ExpertsInterface.get_interface = original


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    subset = config.getoption("--qnext-subset")
    if subset:
        names = {line.strip() for line in Path(subset).read_text().splitlines() if line.strip()}
        keep = [i for i in items if i.originalname in names or i.name.split("[")[0] in names]
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep
    for item in items:
        reason = KNOWN_FAILURES.get(item.name.split("[")[0])
        if reason:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=False))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    _current[0] = item.nodeid
    try:
        return (yield)
    finally:
        _current[0] = ""


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        _ran[0] += 1


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    tests = sum(1 for n, c in CALLS.items() if n and c)
    terminalreporter.write_line(f"qnext experts calls: {sum(CALLS.values())} in {tests} of {_ran[0]} tests run")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _ran[0] and not sum(CALLS.values()):  # tests ran but the plugin never took effect: fail loudly
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
