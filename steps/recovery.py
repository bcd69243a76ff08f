"""Steps that run the plan's backup and recovery procedures."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_bdd import parsers, when

from chaos.recovery.mongo import BackupManifest, backup_mongodb
from chaos.recovery.runbooks import recover_mongodb_from_backup
from fixtures.dry_run import planned

if TYPE_CHECKING:
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
