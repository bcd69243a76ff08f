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
from chaos.recovery.mongo import BackupManifest, backup_ids, backup_mongodb, mongo_client, read_manifest
from chaos.recovery.procedures import (
    Check,
    backup_all,
    recover_all,
    redis_backup_keys,
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
    from chaos.measure.timeline import Moment
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
    drill.timeline.mark("backup_taken", mono=started, component="mongodb", stores=["mongodb"], counts=counts)
    _holds_what_was_acknowledged(drill, started, _writers(request), target, mongodb=manifest)
    return manifest


def _writers(request: pytest.FixtureRequest) -> list[Writer]:
    """The scenario's writers, if it has any."""
    try:
        writers: dict[str, Writer] = request.getfixturevalue("writers")
    except pytest.FixtureLookupError:
        return []
    return list(writers.values())


BACKUP_HOLDS = "backup holds every acknowledged write"


def _held(writer: Writer, mongodb: BackupManifest | None, redis_dir: Path | None) -> set[str] | None:
    """The ids of ``writer``'s class the backup holds; None when the backup has no part for its store."""
    workload = writer.workload
    if workload.store == "mongodb" and mongodb is not None:
        return {str(key) for key in backup_ids(mongodb, workload.location)}
    if workload.store == "redis" and redis_dir is not None:
        return {key[len(workload.location) :] for key in redis_backup_keys(redis_dir, workload.location)}
    return None


def _holds_what_was_acknowledged(
    drill: DrillRecord, started: float, writers: Iterable[Writer], target: Target, *,
    mongodb: BackupManifest | None = None, redis_dir: Path | None = None,
) -> None:  # fmt: skip
    """A backup must hold, per data class, every write acknowledged before it began (``started``, monotonic);
    one that does not cannot be the basis of a restore, and a drill built on it measures nothing. Judged
    against the writers' log, not the backup's own manifest: a backup missing a whole collection is
    consistent with itself."""
    findings, problems = [], []
    for writer in writers:
        acked = {r.id for r in writer.log() if r.outcome is Outcome.ACKED and r.done_mono < started}
        try:
            held = _held(writer, mongodb, redis_dir)
        except Exception as exc:  # an unreadable backup is the verification's to fail; here it proves nothing
            reason = f"{writer.data_class}: the backup could not be read: {exc!r}"
            drill.judgements.append(Judgement(BACKUP_HOLDS, Verdict.UNKNOWN, reason))
            return
        if held is None:
            continue
        missing = acked - held
        if not missing:
            findings.append(f"{writer.data_class}: all {len(acked)} writes acknowledged before it began")
            continue
        problem = (f"{writer.data_class}: misses {len(missing)} of the {len(acked)} writes acknowledged before it "
                   f"began (e.g. {sorted(missing)[:3]})")  # fmt: skip
        if writer.workload.store == "mongodb" and mongodb is not None:
            client = mongo_client(target.endpoints.mongodb_uri)
            try:  # what the server answers now, for the diagnosis
                now = client[mongodb.database][writer.workload.location].count_documents(
                    {"_id": {"$in": sorted(missing)}})  # fmt: skip
            finally:
                client.close()
            problem += f"; read again now, the server has {now} of them"
        problems.append(problem)
    if not findings and not problems:
        return
    if problems:
        reason = "; ".join(problems) + ". A backup that loses acknowledged writes cannot be restored from."
        drill.judgements.append(Judgement(BACKUP_HOLDS, Verdict.FAILED, reason))
        raise AssertionError(f"{BACKUP_HOLDS}: {reason}")
    drill.judgements.append(Judgement(BACKUP_HOLDS, Verdict.PASSED, "; ".join(findings)))


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
def recovery_from_schedule(
    target: Target, drill: DrillRecord, backup_schedule: BackupScheduler, replicas: int, request: pytest.FixtureRequest
) -> None:
    backup_schedule.stop()  # a backup of the lost database must not become the latest
    latest = backup_schedule.latest()
    assert latest is not None, "no scheduled backup completed before the fault"
    drill.timeline.mark("backup_chosen", backup=latest.name)
    taken = _backup_started(drill, latest.name)
    if taken is not None:
        _holds_what_was_acknowledged(drill, taken.mono, _writers(request), target, mongodb=read_manifest(latest))
    try:
        recover_mongodb_from_backup(target, latest, database=target.endpoints.database, replicas=replicas,
                                    timeline=drill.timeline, steps=drill.recovery_steps)  # fmt: skip
    finally:
        problem = _judge_schedule(drill, backup_schedule)
    if problem:
        raise AssertionError(problem)


def _backup_started(drill: DrillRecord, name: str) -> Moment | None:
    """The moment the backup called ``name`` began, as its ``backup_taken`` mark says."""
    marks = [m for m in drill.timeline.moments() if m.name == "backup_taken" and m.detail.get("backup") == name]
    return marks[-1] if marks else None


def _judge_schedule(drill: DrillRecord, schedule: BackupScheduler) -> str:
    """Every backup the schedule attempted before the fault completed: a schedule whose backups fail keeps
    no RPO, whichever backup the drill happened to restore. A backup the fault broke (it failed after the
    fault) is the fault's doing. Returns the problem, if any."""
    fault = drill.timeline.first("fault_injected")
    completed = len(schedule.completed())
    errors = schedule.errors(ended_before=fault.mono if fault is not None else None)
    name = "every scheduled backup completed"
    if errors:
        reason = f"{len(errors)} of {completed + len(errors)} scheduled backups failed: " + "; ".join(errors[:3])
        drill.judgements.append(Judgement(name, Verdict.FAILED, reason))
        return f"{name}: {reason}"
    drill.judgements.append(Judgement(name, Verdict.PASSED, f"all {completed} scheduled backups completed"))
    return ""


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
def every_backup_taken(
    target: Target, drill: DrillRecord, backup_store: BackupStore, request: pytest.FixtureRequest
) -> Path:
    output = _in_store(backup_store, drill, "backup-all")
    resources = target.resources() if "resources" in target.capabilities else None  # type: ignore[attr-defined]
    started = time.monotonic()
    backup_all(target.endpoints, output, key=backup_store.config_key(), resources=resources)
    drill.timeline.mark("backup_taken", mono=started, backup="backup-all", stores=["mongodb", "redis"])
    writers = _writers(request)
    if writers:
        _holds_what_was_acknowledged(drill, started, writers, target, mongodb=read_manifest(output / "mongodb"),
                                     redis_dir=output / "redis")  # fmt: skip
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
