"""Loads the drills' fixtures and steps; a plain import would register no step (pytest-bdd #209)."""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    import pytest

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


def _interrupt(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    # SIGTERM (CI cancelling a job, `kill`) takes the same path as Ctrl-C, so
    # fixtures tear down and every started process is stopped.
    signal.signal(signal.SIGTERM, _interrupt)
