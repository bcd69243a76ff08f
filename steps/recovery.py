"""Steps that run the plan's backup and recovery procedures."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_bdd import when

from chaos.recovery.mongo import BackupManifest, backup_mongodb
from chaos.recovery.runbooks import recover_mongodb_from_backup

if TYPE_CHECKING:
    from chaos.report.record import DrillRecord
    from chaos.targets.base import Target


@when("a MongoDB backup is taken", target_fixture="mongodb_backup")
def mongodb_backup(target: Target, drill: DrillRecord) -> BackupManifest:
    endpoints = target.endpoints
    manifest = backup_mongodb(endpoints.mongodb_uri, endpoints.database, drill.evidence_dir / "mongodb-backup")
    counts = {name: entry["count"] for name, entry in manifest.collections.items()}
    drill.timeline.mark("backup_taken", component="mongodb", counts=counts)
    drill.evidence.append("mongodb-backup/manifest.json")
    return manifest


@when("the MongoDB recovery procedure runs from the latest backup")
def mongodb_recovery(target: Target, drill: DrillRecord, mongodb_backup: BackupManifest, replicas: int) -> None:
    recover_mongodb_from_backup(
        target, mongodb_backup.path, database=target.endpoints.database, replicas=replicas,
        timeline=drill.timeline, steps=drill.recovery_steps,
    )  # fmt: skip
