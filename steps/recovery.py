"""Steps that run the plan's backup and recovery procedures."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest
from pytest_bdd import given, parsers, then, when

from chaos.measure.rto import RtoMeasurement
from chaos.measure.verdict import Verdict
from chaos.measure.workload import Outcome
from chaos.recovery.integrity import verify_data_integrity
from chaos.recovery.mongo import BackupManifest, backup_ids, backup_mongodb, mongo_client
from chaos.recovery.procedures import (
    Check,
    backup_all,
    recover_all,
    test_mongodb_restore,
    test_redis_restore,
    verify_backups,
)
from chaos.recovery.runbooks import Runbook, recover_mongodb_from_backup
from chaos.recovery.schedule import BackupScheduler, interval_for_rpo
from chaos.report.record import Judgement
from chaos.wait import wait_for
from fixtures.dry_run import PlanContext, planned

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from pathlib import Path

    from chaos.config import Budgets
    from chaos.measure.workload import Writer
    from chaos.recovery.store import BackupStore
    from chaos.report.record import DrillRecord
    from chaos.targets.base import Target


BACKUP = parsers.parse("a MongoDB backup is taken")
RESTORE = parsers.parse("the MongoDB recovery procedure runs from the latest backup")


@when(
    planned(BACKUP, lambda a, c: "RECOVERY-PREP logical MongoDB backup with a manifest (counts, SHA-256 per file)"),
    target_fixture="mongodb_backup",
)
def mongodb_backup(
    target: Target, drill: DrillRecord, backup_store: BackupStore, request: pytest.FixtureRequest
) -> BackupManifest:
    endpoints = target.endpoints
    started = time.monotonic()
    manifest = backup_mongodb(endpoints.mongodb_uri, endpoints.database, _in_store(backup_store, drill, "mongodb"))
    counts = {name: entry["count"] for name, entry in manifest.collections.items()}
    drill.timeline.mark("backup_taken", component="mongodb", counts=counts)
    try:
        writers: dict[str, Writer] = request.getfixturevalue("writers")
    except pytest.FixtureLookupError:
        writers = {}
    _holds_what_was_acknowledged(manifest, started, writers.values(), target)
    return manifest


def _holds_what_was_acknowledged(manifest: BackupManifest, started: float, writers: Iterable[Writer],
                                 target: Target) -> None:  # fmt: skip
    """A backup must hold every write acknowledged before it began; one that does not cannot be the
    basis of a restore, and a drill built on it measures nothing."""
    for writer in writers:
        if writer.workload.store != "mongodb":
            continue
        collection = writer.workload.location
        acked = {r.id for r in writer.log() if r.outcome is Outcome.ACKED and r.done_mono < started}
        missing = acked - backup_ids(manifest, collection)
        if missing:
            client = mongo_client(target.endpoints.mongodb_uri)
            try:  # what the server answers now, for the diagnosis
                now = client[manifest.database][collection].count_documents({"_id": {"$in": sorted(missing)}})
            finally:
                client.close()
            raise AssertionError(
                f"the backup {manifest.path} misses {len(missing)} of the {len(acked)} writes to "
                f"{manifest.database}.{collection} acknowledged before it began (e.g. {sorted(missing)[:3]}); "
                f"read again now, the server has {now} of them. A backup that loses acknowledged writes "
                "cannot be restored from."
            )


def _in_store(store: BackupStore, drill: DrillRecord, name: str) -> Path:
    """Where a backup of this scenario goes: the backup store, never the evidence; recorded for the evidence."""
    path = store.new(store.run_id, drill.evidence_dir.name, name)
    drill.backups.append(path)
    return path


@when(
    planned(RESTORE, lambda a, c: "RECOVERY (plan: MongoDB Recovery) scale app to 0; start MongoDB on an empty data "
                                  "directory if it is down; verify and restore the backup; verify data integrity; "
                                  "scale app back")
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
    target: Target, drill: DrillRecord, budgets: Budgets, backup_store: BackupStore, data_class: str
) -> Iterator[BackupScheduler]:
    endpoints = target.endpoints
    interval = interval_for_rpo(budgets.rpo_for(data_class.replace(" ", "_")))
    schedule = BackupScheduler(lambda path: backup_mongodb(endpoints.mongodb_uri, endpoints.database, path),
                               _in_store(backup_store, drill, "scheduled"), interval=interval,
                               timeline=drill.timeline)  # fmt: skip
    try:
        schedule.start()
        wait_for(schedule.latest, what="the first scheduled backup", timeout=60)
        yield schedule
    finally:
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


REDIS_RESTART = parsers.parse("the Redis server is restarted on its own data after {seconds:g} seconds")
FULL_BACKUP = parsers.parse("every backup is taken")
BACKUPS_VERIFY = parsers.parse("every backup verifies")
MONGO_TEST_RESTORE = parsers.parse("a test restore into a scratch database matches the backup document for document")
REDIS_TEST_RESTORE = parsers.parse("a test restore of the Redis snapshot loads every key")
CORRUPTION_FOUND = parsers.parse("verify-data-integrity reports the corruption")
INTACT = parsers.parse("the data is intact again within the {component} RTO")


@when(planned(REDIS_RESTART, lambda a, c: f"RECOVERY after {a['seconds']:g}s down, start redis-server on its data "
                                          "directory (AOF or RDB), as a restarted pod with its volume"))  # fmt: skip
def redis_restarted(target: Target, drill: DrillRecord, seconds: float) -> None:
    # A restarted pod is not back in the 70 ms a local process takes: the wait keeps the
    # outage longer than the probe interval, so the prober sees it.
    time.sleep(seconds)
    runbook = Runbook(drill.timeline, drill.recovery_steps)
    drill.timeline.mark("recovery_started", procedure="redis-restart")
    try:
        runbook.step("start Redis on its own data", lambda: target.start_component("redis"))
    finally:
        drill.timeline.mark("recovery_finished", ok=all(step.ok for step in runbook.steps))


@when(planned(FULL_BACKUP, lambda a, c: "BACKUP backup-all: MongoDB (raw BSON + manifest), Redis (RDB over SYNC), "
                                        "configuration with encrypted secrets (on Kubernetes: with the namespace's "
                                        "objects)"),
      target_fixture="full_backup")  # fmt: skip
def every_backup_taken(target: Target, drill: DrillRecord, backup_store: BackupStore) -> Path:
    output = _in_store(backup_store, drill, "backup-all")
    resources = target.resources() if "resources" in target.capabilities else None  # type: ignore[attr-defined]
    backup_all(target.endpoints, output, key=backup_store.config_key(), resources=resources)
    drill.timeline.mark("backup_taken", backup="backup-all")
    return output


SYSTEM_RECOVERY = parsers.parse("the complete system recovery procedure runs from the latest backups")


@when(planned(SYSTEM_RECOVERY, lambda a, c: "RECOVERY (plan: Complete System Failure, recover-all) verify the "
                                            "backups; start Toxiproxy (links recreated) and Prometheus; scale app "
                                            "to 0; start MongoDB on an empty data directory; restore MongoDB and "
                                            "Redis; verify data integrity; scale app back; verify every replica "
                                            "healthy"))  # fmt: skip
def system_recovery(
    target: Target, drill: DrillRecord, full_backup: Path, replicas: int, backup_store: BackupStore
) -> None:
    recover_all(target, full_backup, replicas=replicas, timeline=drill.timeline, steps=drill.recovery_steps,
                key=backup_store.config_key())  # fmt: skip


def _judge(drill: DrillRecord, name: str, check: Check) -> None:
    verdict = Verdict.PASSED if check.ok else Verdict.FAILED
    reason = "; ".join(check.problems) if check.problems else "; ".join(check.findings)
    drill.judgements.append(Judgement(name, verdict, reason))
    assert check.ok, f"{name}: {reason}"


@then(planned(BACKUPS_VERIFY, lambda a, c: "CHECK verify-backups: hashes, counts, redis-check-rdb, secrets decrypt"))
def backups_verify(full_backup: Path, drill: DrillRecord, backup_store: BackupStore) -> None:
    _judge(drill, "backups verified", verify_backups(full_backup, key=backup_store.config_key()))


@then(planned(MONGO_TEST_RESTORE, lambda a, c: "CHECK test-mongodb-restore: restore into a scratch database, "
                                               "compare every document with the backup, drop the scratch"))  # fmt: skip
def mongodb_test_restore(full_backup: Path, target: Target, drill: DrillRecord) -> None:
    _judge(drill, "MongoDB test restore", test_mongodb_restore(full_backup / "mongodb", target.endpoints.mongodb_uri))


@then(planned(REDIS_TEST_RESTORE, lambda a, c: "CHECK test-redis-restore: load the RDB in a scratch redis-server "
                                               "and count its keys"))  # fmt: skip
def redis_test_restore(full_backup: Path, drill: DrillRecord) -> None:
    _judge(drill, "Redis test restore", test_redis_restore(full_backup / "redis"))


@then(planned(CORRUPTION_FOUND, lambda a, c: "CHECK verify-data-integrity finds the corrupted documents"))
def corruption_found(target: Target, drill: DrillRecord) -> None:
    report = verify_data_integrity(target.endpoints.mongodb_uri, target.endpoints.database)
    found = not report.ok
    reason = "; ".join(report.problems) if found else "the integrity check found nothing wrong"
    drill.judgements.append(Judgement("corruption detected", Verdict.PASSED if found else Verdict.FAILED, reason))
    drill.timeline.mark("corruption_detected", problems=len(report.problems))
    assert found, reason


def _describe_intact(args: dict[str, Any], context: PlanContext) -> str:
    budget = context.budgets.rto_for(args["component"].strip().lower().replace(" ", "_"))
    return (f"CHECK the integrity check passes again; fault -> end of recovery within the {args['component']} "
            f"budget of {budget:g}s")  # fmt: skip


@then(planned(INTACT, _describe_intact))
def data_intact_within_rto(target: Target, drill: DrillRecord, budgets: Budgets, component: str) -> None:
    key = component.strip().lower().replace(" ", "_")
    fault, finished = drill.timeline.first("fault_injected"), drill.timeline.first("recovery_finished")
    assert fault is not None, "no fault was injected"
    assert finished is not None, "the recovery procedure did not finish"
    report = verify_data_integrity(target.endpoints.mongodb_uri, target.endpoints.database)
    budget = budgets.rto_for(key)
    measured = finished.mono - fault.mono
    if not report.ok:
        verdict, reason = Verdict.FAILED, "integrity still broken: " + "; ".join(report.problems)
    else:
        verdict = Verdict.PASSED if measured <= budget else Verdict.FAILED
        reason = f"integrity restored {measured:.2f}s after the fault (budget {budget:g}s)"
    drill.rto = RtoMeasurement(key, fault.mono, None, None, finished.mono, finished.mono, measured, 0.0, budget,
                               verdict, reason, {"recovery_finished": measured})  # fmt: skip
    assert verdict is Verdict.PASSED, reason


ROLLBACK = parsers.parse("the release is rolled back")


@when(planned(ROLLBACK, lambda a, c: "RECOVERY (plan: Application Failure) helm rollback: every replica back on the "
                                     "previous release, waiting until each answers", needs=("releases",)))  # fmt: skip
def release_rolled_back(target: Target, drill: DrillRecord) -> None:
    runbook = Runbook(drill.timeline, drill.recovery_steps)
    drill.timeline.mark("recovery_started", procedure="rollback")
    try:
        runbook.step("roll back to the previous release", lambda: f"now on {target.rollback()}")
    finally:
        drill.timeline.mark("recovery_finished", ok=all(step.ok for step in runbook.steps))
