"""Loads the drills' fixtures and steps; a plain import would register no step (pytest-bdd #209)."""

from __future__ import annotations

import pytest

from chaos.interrupts import Interrupts

pytest_plugins = [
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


def pytest_unconfigure(config: pytest.Config) -> None:
    interrupts = config.stash.get(INTERRUPTS, None)
    if interrupts is not None:
        interrupts.uninstall()
