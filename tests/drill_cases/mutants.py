"""Mutants of the drills: the same scenarios with their fault or their recovery taken away.

Loaded only by tests/integration/test_mutants.py (``-p tests.drill_cases.mutants``),
in a pytest process of its own; ``CHAOS_MUTANT`` names the mutant:

    fault-disabled    every fault's apply does nothing: it must not be observed (verdict unknown)
    defect-removed    a bad release is deployed without its defect: not observed (unknown)
    recovery-skipped  every step of the plan's recovery procedures does nothing: the drill fails
    backup-corrupted  every backup-all has a byte of its MongoDB dump flipped: verification fails
    crowd-silent      the simulated users sign in, act once and fall silent while locust keeps running:
                      the users' error rate and latency were never observed (unknown)

A drill that still passes under its mutant proves nothing about the plan.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytest

MUTANTS = ("fault-disabled", "defect-removed", "recovery-skipped", "backup-corrupted", "crowd-silent")


def _nothing(*args: Any, **kwargs: Any) -> None:
    return None


def pytest_configure(config: pytest.Config) -> None:
    # Imported here, not at the top: a plugin given with -p loads before the root conftest registers
    # the steps and fixtures, and importing them first would keep pytest from rewriting their asserts.
    import steps.recovery
    from chaos.faults.base import FAULT_KINDS
    from chaos.measure.crowd import Crowd
    from chaos.recovery.runbooks import Runbook
    from chaos.targets.local import LocalTarget

    backup_all, deploy, crowd_command = steps.recovery.backup_all, LocalTarget.deploy, Crowd.command

    def corrupted_backup_all(endpoints: Any, output: Any, **kwargs: Any) -> dict[str, Any]:
        manifest = backup_all(endpoints, output, **kwargs)
        dump = min(path for path in (output / "mongodb").iterdir() if path.name.endswith(".bson.gz"))
        data = bytearray(dump.read_bytes())
        data[len(data) // 2] ^= 0xFF
        dump.write_bytes(bytes(data))
        return manifest

    def silent_crowd_command(self: Crowd) -> list[str]:
        command = crowd_command(self)
        command[command.index("--think-s") + 1] = "900,900"  # after its first action, a user waits out the drill
        return command

    mutant = os.environ.get("CHAOS_MUTANT", "")
    if mutant not in MUTANTS:
        raise ValueError(f"CHAOS_MUTANT={mutant!r}: expected one of {', '.join(MUTANTS)}")
    if mutant == "fault-disabled":
        for fault in FAULT_KINDS.values():
            fault._apply = _nothing  # type: ignore[method-assign]
    elif mutant == "defect-removed":
        LocalTarget.deploy = lambda self, version, defect="": deploy(self, version, "")  # type: ignore[method-assign]
    elif mutant == "recovery-skipped":
        Runbook.step = _nothing  # type: ignore[method-assign]
    elif mutant == "crowd-silent":
        Crowd.command = silent_crowd_command  # type: ignore[method-assign]
    else:
        steps.recovery.backup_all = corrupted_backup_all
