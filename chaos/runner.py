"""``drill run``: pytest with the drills, its outcome mapped to exit codes a scheduled job can act on.

    0  every selected drill passed
    1  a budget was breached, a drill failed, or a drill was inconclusive (verdict unknown)
    2  usage or configuration error (bad option, budgets or targets file; a marker that selects nothing)
    3  infrastructure error: a server did not start, a tool is missing, the target misbehaved outside any
       drill step, or the run was interrupted before it finished

When several apply, the lowest-numbered finding about the plan wins over the
environment: 2, then 1 for a failed drill, then 3, then 1 for an inconclusive one.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from chaos.errors import StartupError, TargetError, ToolNotFoundError, ToxiproxyError, WaitTimeoutError
from chaos.pytest_plugin import drill_help, joined

if TYPE_CHECKING:
    from collections.abc import Generator, Sequence

__all__ = ["EXIT_CODES", "Outcomes", "exit_code", "run_drills"]

ROOT = Path(__file__).resolve().parent.parent
FEATURES = ROOT / "features"
EXIT_CODES = {"passed": 0, "failed": 1, "usage": 2, "infrastructure": 3, "nothing drilled": 4}
INFRASTRUCTURE = (ToolNotFoundError, StartupError, TargetError, ToxiproxyError, WaitTimeoutError, OSError)
INCONCLUSIVE = "inconclusive (verdict unknown)"
UNSUPPORTED = "unsupported on"  # the start of a skip reason of a drill the target cannot run (fixtures/target.py)


@dataclass(eq=False)  # registered as a pytest plugin: must stay hashable
class Outcomes:
    """What happened to each test, sorted into what the exit code reports."""

    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    inconclusive: list[str] = field(default_factory=list)
    infrastructure: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if report.passed and report.when == "call":
            self.passed.append(item.nodeid)
        elif report.skipped and isinstance(report.longrepr, tuple) and UNSUPPORTED in str(report.longrepr[2]):
            self.unsupported.append(item.nodeid)
        elif report.failed:
            error = call.excinfo.value if call.excinfo is not None else None
            where = f"{item.nodeid} ({report.when}): {type(error).__name__ if error else 'failed'}"
            if error is not None and str(error).startswith(INCONCLUSIVE):
                self.inconclusive.append(where)
            elif _infrastructure(error, report.when):
                self.infrastructure.append(where)
            else:
                self.failed.append(where)
        return report


def _infrastructure(error: BaseException | None, when: str) -> bool:
    """A server that did not start or a missing tool, anywhere; the target misbehaving outside the steps."""
    if isinstance(error, ToolNotFoundError | StartupError):
        return True
    return isinstance(error, INFRASTRUCTURE) and when != "call"


def exit_code(pytest_status: int, outcomes: Outcomes) -> int:
    if pytest_status in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.NO_TESTS_COLLECTED):
        return EXIT_CODES["usage"]
    if outcomes.failed:
        return EXIT_CODES["failed"]
    if outcomes.infrastructure or pytest_status in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR):
        return EXIT_CODES["infrastructure"]
    if outcomes.inconclusive or pytest_status != pytest.ExitCode.OK:
        return EXIT_CODES["failed"]
    if outcomes.unsupported and not outcomes.passed:
        return EXIT_CODES["nothing drilled"]  # green with nothing drilled would be a false pass
    return EXIT_CODES["passed"]


def _paths(args: Sequence[str]) -> list[str]:
    """The test paths among ``args``: the words that are neither options nor the value of ``-m``/``-k``."""
    paths, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("-m", "-k", "-p", "-c", "-o"):
            skip = True
        elif not arg.startswith("-") and Path(arg.split("::")[0]).exists():
            paths.append(arg)
    return paths


def run_drills(args: Sequence[str]) -> int:
    """Run pytest over the drills with ``args`` (``-m``, ``--budget-profile``...) and map the outcome."""
    if any(arg in ("-h", "--help") for arg in args):
        print(drill_help())  # drill's own options first; pytest's 400 lines after them
        print("pytest's own options follow (drill run passes every one of them on):\n", flush=True)
        return int(pytest.main(["--help"]))
    outcomes = Outcomes()
    selected = joined(args)
    if not any(arg == "-m" or arg.startswith("-m") for arg in selected):
        selected = ["-m", "drill", *selected]
    if not _paths(selected):
        selected.append(str(FEATURES))  # the drills only, unless told where to look
    if not any(arg.startswith("--rootdir") for arg in selected):
        selected = [f"--rootdir={ROOT}", *selected]  # the project's, wherever the files given live
    try:
        status = int(pytest.main(["-p", "no:cacheprovider", *selected], plugins=[outcomes]))
    except KeyboardInterrupt:  # one that landed while pytest wrote its reports, after its own handling
        status = pytest.ExitCode.INTERRUPTED
    code = exit_code(status, outcomes)
    counts = (f"{len(outcomes.passed)} passed, {len(outcomes.failed)} failed, {len(outcomes.inconclusive)} "
              f"inconclusive, {len(outcomes.infrastructure)} infrastructure errors")  # fmt: skip
    lines = [f"drill run: exit {code}: {counts}"]
    if status == pytest.ExitCode.NO_TESTS_COLLECTED:
        lines.append("drill run: the selection matched no drill (check -m / -k)")
    if code == EXIT_CODES["nothing drilled"]:
        lines.append(f"drill run: every selected drill ({len(outcomes.unsupported)}) is unsupported on this target: "
                     "nothing was drilled")  # fmt: skip
    lines += [f"  failed: {item}" for item in outcomes.failed]
    lines += [f"  inconclusive: {item}" for item in outcomes.inconclusive]
    lines += [f"  infrastructure: {item}" for item in outcomes.infrastructure]
    print("\n".join(lines), file=sys.stderr)
    return code
