"""Steps that run the plan's backup and recovery procedures."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_bdd import given, parsers, when

from chaos.recovery.mongo import BackupManifest, backup_mongodb
from chaos.recovery.runbooks import recover_mongodb_from_backup
from chaos.recovery.schedule import BackupScheduler, interval_for_rpo
from chaos.wait import wait_for
from fixtures.dry_run import PlanContext, planned

if TYPE_CHECKING:
    from collections.abc import Iterator

    from chaos.config import Budgets
    from chaos.report.record import DrillRecord
    from chaos.targets.base import Target


BACKUP = parsers.parse("a MongoDB backup is taken")
RESTORE = parsers.parse("the MongoDB recovery procedure runs from the latest backup")


@when(
    planned(BACKUP, lambda a, c: "RECOVERY-PREP logical MongoDB backup with a manifest (counts, SHA-256 per file)"),
    target_fixture="mongodb_backup",
)
def mongodb_backup(target: Target, drill: DrillRecord) -> BackupManifest:
    endpoints = target.endpoints
    manifest = backup_mongodb(endpoints.mongodb_uri, endpoints.database, drill.evidence_dir / "mongodb-backup")
    counts = {name: entry["count"] for name, entry in manifest.collections.items()}
    drill.timeline.mark("backup_taken", component="mongodb", counts=counts)
    drill.evidence.append("mongodb-backup/manifest.json")
    return manifest


@when(
    planned(RESTORE, lambda a, c: "RECOVERY (plan: MongoDB Recovery) scale app to 0; start MongoDB on an empty data "
                                  "directory; verify and restore the backup; verify data integrity; scale app back")
)  # fmt: skip
def mongodb_recovery(target: Target, drill: DrillRecord, mongodb_backup: BackupManifest, replicas: int) -> None:
    recover_mongodb_from_backup(
        target, mongodb_backup.path, database=target.endpoints.database, replicas=replicas,
        timeline=drill.timeline, steps=drill.recovery_steps,
    )  # fmt: skip


SCHEDULED = parsers.parse("MongoDB is backed up every half of the {data_class} RPO")
FROM_SCHEDULE = parsers.parse("the MongoDB recovery procedure runs from the latest scheduled backup")


def _describe_schedule(args: dict[str, Any], context: PlanContext) -> str:
    rpo = context.budgets.rpo_for(args["data_class"].replace(" ", "_"))
    return f"RECOVERY-PREP logical MongoDB backups every {interval_for_rpo(rpo):g}s (half the {rpo:g}s RPO)"


@given(planned(SCHEDULED, _describe_schedule), target_fixture="backup_schedule")
def scheduled_backups(
    target: Target, drill: DrillRecord, budgets: Budgets, data_class: str
) -> Iterator[BackupScheduler]:
    endpoints = target.endpoints
    interval = interval_for_rpo(budgets.rpo_for(data_class.replace(" ", "_")))
    schedule = BackupScheduler(lambda path: backup_mongodb(endpoints.mongodb_uri, endpoints.database, path),
                               drill.evidence_dir / "scheduled-backups", interval=interval,
                               timeline=drill.timeline).start()  # fmt: skip
    wait_for(schedule.latest, what="the first scheduled backup", timeout=60)
    yield schedule
    schedule.stop()
    drill.notes += [f"scheduled backup failed: {error}" for error in schedule.errors()]


@when(planned(FROM_SCHEDULE, lambda a, c: "RECOVERY (plan: MongoDB Recovery) from the newest completed scheduled "
                                          "backup: scale app to 0; empty MongoDB; verify and restore; verify "
                                          "integrity; scale app back"))  # fmt: skip
def recovery_from_schedule(target: Target, drill: DrillRecord, backup_schedule: BackupScheduler, replicas: int) -> None:
    backup_schedule.stop()  # a backup of the lost database must not become the latest
    latest = backup_schedule.latest()
    assert latest is not None, "no scheduled backup completed before the fault"
    drill.timeline.mark("backup_chosen", backup=latest.name)
    recover_mongodb_from_backup(target, latest, database=target.endpoints.database, replicas=replicas,
                                timeline=drill.timeline, steps=drill.recovery_steps)  # fmt: skip
