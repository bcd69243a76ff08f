"""Mutants of the drills: the same scenarios with their fault, their recovery or their evidence broken.

Loaded only by tests/integration/test_mutants.py (``-p tests.drill_cases.mutants``),
in a pytest process of its own; ``CHAOS_MUTANT`` names the mutant:

    fault-disabled     every fault's apply does nothing: it must not be observed (verdict unknown)
    defect-removed     a bad release is deployed without its defect: not observed (unknown)
    recovery-skipped   every step of the plan's recovery procedures does nothing: the drill fails
    backup-corrupted   every backup-all has a byte of its MongoDB dump flipped: verification fails
    backup-incomplete  every backup-all leaves out the events collection, its manifest with it, so the
                       backup is consistent with itself: it misses acknowledged writes (fails)
    restore-wipes      the complete system recovery's MongoDB restore drops the settings afterwards: the
                       restore lost what its backup held (fails)
    schedule-broken    every scheduled backup after the first fails: the schedule keeps no RPO (fails)
    toxic-off-path     every toxic goes on a new Toxiproxy link of its own, to the same upstream, that nothing
                       uses: Toxiproxy holds it, the app's traffic never meets it (unknown)
    crowd-silent       the simulated users sign in, act once and fall silent while locust keeps running:
                       the users' error rate and latency were never observed (unknown)

A drill that still passes under its mutant proves nothing about the plan.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    import pytest

MUTANTS = ("fault-disabled", "defect-removed", "recovery-skipped", "backup-corrupted", "backup-incomplete",
           "restore-wipes", "schedule-broken", "toxic-off-path", "crowd-silent")  # fmt: skip


def _nothing(*args: Any, **kwargs: Any) -> None:
    return None


def pytest_configure(config: pytest.Config) -> None:
    mutant = os.environ.get("CHAOS_MUTANT", "")
    if mutant not in MUTANTS:
        raise ValueError(f"CHAOS_MUTANT={mutant!r}: expected one of {', '.join(MUTANTS)}")
    _apply(mutant)


def _apply(mutant: str) -> None:
    # Imported here, not at the top: a plugin given with -p loads before the root conftest registers
    # the steps and fixtures, and importing them first would keep pytest from rewriting their asserts.
    import chaos.recovery.procedures
    import steps.recovery
    from chaos.errors import BackupError
    from chaos.faults import Toxic
    from chaos.faults.base import FAULT_KINDS
    from chaos.measure.crowd import Crowd
    from chaos.recovery.mongo import mongo_client
    from chaos.recovery.runbooks import Runbook
    from chaos.recovery.schedule import BackupScheduler
    from chaos.servers.toxiproxy import ToxiproxyClient
    from chaos.targets.local import LocalTarget

    backup_all, deploy, crowd_command = steps.recovery.backup_all, LocalTarget.deploy, Crowd.command
    restore_mongodb, scheduler_init = chaos.recovery.procedures.restore_mongodb, BackupScheduler.__init__
    toxic_apply = Toxic._apply

    def corrupted_backup_all(endpoints: Any, output: Any, **kwargs: Any) -> dict[str, Any]:
        manifest = backup_all(endpoints, output, **kwargs)
        dump = min(path for path in (output / "mongodb").iterdir() if path.name.endswith(".bson.gz"))
        data = bytearray(dump.read_bytes())
        data[len(data) // 2] ^= 0xFF
        dump.write_bytes(bytes(data))
        return manifest

    def incomplete_backup_all(endpoints: Any, output: Any, **kwargs: Any) -> dict[str, Any]:
        manifest = backup_all(endpoints, output, **kwargs)
        part = output / "mongodb" / "manifest.json"
        written = json.loads(part.read_text())
        (output / "mongodb" / written["collections"].pop("events")["file"]).unlink()
        part.write_text(json.dumps(written))
        manifest["mongodb"].pop("events")
        (output / "manifest.json").write_text(json.dumps(manifest))
        return manifest

    def wiping_restore(backup_dir: Any, uri: str, *args: Any, **kwargs: Any) -> Any:
        report = restore_mongodb(backup_dir, uri, *args, **kwargs)
        client = mongo_client(uri)
        try:
            client[report.database].drop_collection("settings")
        finally:
            client.close()
        return report

    def broken_schedule(self: BackupScheduler, take: Callable[[Any], object], *args: Any, **kwargs: Any) -> None:
        taken: list[Any] = []

        def first_only(path: Any) -> object:
            if taken:
                raise BackupError(f"{path}: the mutant breaks every scheduled backup after the first")
            taken.append(path)
            return take(path)

        scheduler_init(self, first_only, *args, **kwargs)

    def off_path_apply(self: Toxic) -> None:
        client = ToxiproxyClient(self.api)
        try:
            unused = f"unused-{self.link}"
            client.create_proxy(unused, "127.0.0.1:0", client.proxy(self.link).upstream)
        finally:
            client.close()
        self.link = unused
        toxic_apply(self)

    def silent_crowd_command(self: Crowd) -> list[str]:
        command = crowd_command(self)
        command[command.index("--think-s") + 1] = "900,900"  # after its first action, a user waits out the drill
        return command

    if mutant == "fault-disabled":
        for fault in FAULT_KINDS.values():
            fault._apply = _nothing  # type: ignore[method-assign]
    elif mutant == "defect-removed":
        LocalTarget.deploy = lambda self, version, defect="": deploy(self, version, "")  # type: ignore[method-assign]
    elif mutant == "recovery-skipped":
        Runbook.step = _nothing  # type: ignore[method-assign]
    elif mutant == "backup-corrupted":
        steps.recovery.backup_all = corrupted_backup_all
    elif mutant == "backup-incomplete":
        steps.recovery.backup_all = incomplete_backup_all
    elif mutant == "restore-wipes":
        chaos.recovery.procedures.restore_mongodb = wiping_restore  # type: ignore[assignment]
    elif mutant == "schedule-broken":
        BackupScheduler.__init__ = broken_schedule  # type: ignore[method-assign]
    elif mutant == "toxic-off-path":
        Toxic._apply = off_path_apply  # type: ignore[method-assign]
    else:
        Crowd.command = silent_crowd_command  # type: ignore[method-assign]
