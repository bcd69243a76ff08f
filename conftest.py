"""Loads the drills' fixtures and steps; a plain import would register no step (pytest-bdd #209)."""

from __future__ import annotations

import pytest

from chaos.interrupts import Interrupts

pytest_plugins = [
    "chaos.pytest_plugin",  # the drill options; also the installed pytest11 entry point of the same name
    "fixtures.budgets",
    "fixtures.dry_run",
    "fixtures.target",
    "fixtures.drill",
    "steps.environment",
    "steps.faults",
    "steps.recovery",
    "steps.measurement",
    "steps.load",
]


INTERRUPTS = pytest.StashKey[Interrupts]()


def pytest_configure(config: pytest.Config) -> None:
    # Ctrl-C and SIGTERM (CI cancelling a job, `kill`) stop the run in order, within a grace: fixtures tear
    # down, so faults are reverted and every started process is stopped (chaos.interrupts).
    interrupts = Interrupts()
    interrupts.install()
    config.stash[INTERRUPTS] = interrupts
    if config.option.durations is not None:
        config.pluginmanager.register(ModuleTimes(), "module-times")


def pytest_unconfigure(config: pytest.Config) -> None:
    interrupts = config.stash.get(INTERRUPTS, None)
    if interrupts is not None:
        interrupts.uninstall()


class ModuleTimes:
    """With --durations (as `make test` runs it), the time spent in each test file too: where a slow run went."""

    SHOWN = 20

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        module = report.nodeid.split("::", 1)[0]
        self.spent[module] = self.spent.get(module, 0.0) + report.duration  # setup, call and teardown

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.spent:
            return
        terminalreporter.write_sep("=", f"slowest {min(self.SHOWN, len(self.spent))} test files")
        total = sum(self.spent.values())
        for module, seconds in sorted(self.spent.items(), key=lambda item: -item[1])[: self.SHOWN]:
            terminalreporter.write_line(f"{seconds:8.2f}s {100 * seconds / total:5.1f}%  {module}")
        terminalreporter.write_line(f"{total:8.2f}s in {len(self.spent)} files (setup, call and teardown)")
