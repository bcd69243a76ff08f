"""The plan's whole sequences: backup-all, verify-backups, recover-all, verify-recovery, and test restores.

A test restore proves a backup can be restored without touching production:
MongoDB is restored into a scratch database on the same server and compared
document by document with the backup; the Redis RDB is loaded by a scratch
redis-server and its keys counted.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import bson
import pymongo
import redis

from chaos.errors import BackupError, BackupVerificationError
from chaos.recovery.config_backup import backup_config, load_resources, verify_config
from chaos.recovery.connectivity import check_connectivity
from chaos.recovery.files import new_output_dir
from chaos.recovery.integrity import verify_data_integrity
from chaos.recovery.mongo import backup_mongodb, iter_documents, verify_backup
from chaos.recovery.mongo_restore import restore_mongodb
from chaos.recovery.redis import RDB, backup_redis, restore_redis, verify_redis_backup
from chaos.recovery.runbooks import Runbook, ensure_infrastructure, ensure_mongodb, verify_deployment
from chaos.servers import launch
from chaos.servers.process import ManagedProcess
from chaos.wait import wait_for

if TYPE_CHECKING:
    from collections.abc import Iterator

    from chaos.measure.timeline import Timeline
    from chaos.report.record import RecoveryStep
    from chaos.targets.base import Endpoints, Target
    from chaos.targets.kubernetes import KubernetesTarget

__all__ = [
    "Check",
    "backup_all",
    "recover_all",
    "redis_backup_keys",
    "test_mongodb_restore",
    "test_redis_restore",
    "verify_backups",
    "verify_recovery",
]

PARTS = ("mongodb", "redis", "config")


@dataclass
class Check:
    """What a verification saw: each finding, and whether any is a problem."""

    findings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def backup_all(
    endpoints: Endpoints, output: Path, *, key: str | None = None, resources: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """MongoDB, Redis and the configuration into ``output/<part>``, with a manifest over all three;
    ``resources``: the deployment's Kubernetes objects, kept in the configuration part."""
    started = time.time()
    with new_output_dir(output):
        mongo = backup_mongodb(endpoints.mongodb_uri, endpoints.database, output / "mongodb")
        cache = backup_redis(endpoints.redis_url, output / "redis")
        backup_config(endpoints, output / "config", key=key, resources=resources)
        manifest = {"created_at": started, "finished_at": time.time(), "parts": list(PARTS),
                    "mongodb": {name: entry["count"] for name, entry in mongo.collections.items()},
                    "redis": {"keys": cache.keys}}  # fmt: skip
        (output / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def verify_backups(backup_dir: Path, *, key: str | None = None) -> Check:
    """Every part of a backup-all directory, verified; a missing part is a problem."""
    check = Check()
    for part, verify in (("mongodb", verify_backup), ("redis", verify_redis_backup)):
        try:
            verify(backup_dir / part)
            check.findings.append(f"{part}: backup verified")
        except BackupVerificationError as exc:
            check.problems.append(f"{part}: {exc}")
    try:
        verify_config(backup_dir / "config", key=key)
        check.findings.append("config: backup verified, every secret encrypted and decryptable")
    except BackupVerificationError as exc:
        check.problems.append(f"config: {exc}")
    return check


def _document_hashes(docs: Any) -> dict[str, str]:
    return {str(doc["_id"]): hashlib.sha256(bson.encode(doc)).hexdigest() for doc in docs}


def test_mongodb_restore(backup_dir: Path, uri: str) -> Check:
    """Restore into a scratch database and compare every document with the backup; drop the scratch."""
    manifest = verify_backup(backup_dir)
    scratch = f"{manifest.database}_restore_test_{int(time.time())}"
    check = Check()
    restore_mongodb(backup_dir, uri, scratch)
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
    try:
        for name, entry in manifest.collections.items():
            source = backup_dir / entry["file"]
            with gzip.open(source, "rb") as stream:
                expected = _document_hashes(bson.decode(raw) for raw in iter_documents(stream, source))
            restored = _document_hashes(client[scratch][name].find())
            differing = sum(1 for key, digest in expected.items() if restored.get(key) != digest)
            if differing or len(restored) != len(expected):
                check.problems.append(f"{name}: {differing} of {len(expected)} documents differ after restore "
                                      f"({len(restored)} restored)")  # fmt: skip
            else:
                check.findings.append(f"{name}: {len(expected)} documents restored identical")
    finally:
        client.drop_database(scratch)
        client.close()
    return check


@contextlib.contextmanager
def _scratch_redis(backup_dir: Path) -> Iterator[redis.Redis]:
    """A scratch redis-server of its own, loaded from the RDB of ``backup_dir``; stopped and removed after."""
    scratch = Path(tempfile.mkdtemp(prefix="chaos-redis-restore-"))
    shutil.copy2(backup_dir / RDB, scratch / RDB)
    port = launch.free_port()
    process = ManagedProcess(launch.redis_spec("redis-restore-test", port, scratch, scratch / "redis.log"))
    try:
        url = f"redis://127.0.0.1:{port}/0"
        wait_for(lambda: launch.redis_ready(url), what="the scratch redis-server", timeout=30, not_yet=launch.NOT_READY)
        client = redis.Redis.from_url(url)
        try:
            yield client
        finally:
            client.close()
    finally:
        process.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def test_redis_restore(backup_dir: Path) -> Check:
    """Load the RDB into a scratch redis-server and count its keys against the manifest."""
    backup = verify_redis_backup(backup_dir)
    check = Check()
    with _scratch_redis(backup_dir) as client:
        loaded = int(client.dbsize())
    if backup.keys - backup.expires <= loaded <= backup.keys:
        check.findings.append(f"redis: {loaded} keys loaded (backup: {backup.keys}, {backup.expires} with a TTL)")
    else:
        check.problems.append(f"redis: {loaded} keys loaded, the backup has {backup.keys}")
    return check


def redis_backup_keys(backup_dir: Path, prefix: str) -> set[str]:
    """The keys starting with ``prefix`` that the RDB of ``backup_dir`` holds, read by a scratch redis-server
    that loaded it."""
    with _scratch_redis(backup_dir) as client:
        return {key.decode() for key in client.scan_iter(match=f"{prefix}*", count=1000)}


def recover_all(
    target: Target,
    backup_dir: Path,
    *,
    replicas: int,
    timeline: Timeline,
    steps: list[RecoveryStep] | None = None,
    key: str | None = None,
) -> list[RecoveryStep]:
    """The plan's "Complete System Failure" steps 2 to 4: restore the infrastructure, restore the data from
    ``backup_dir`` (a backup-all directory), then deploy the app and verify the deployment."""
    runbook = Runbook(timeline, steps if steps is not None else [])
    timeline.mark("recovery_started", procedure="recover-all", backup=str(backup_dir))

    def verified() -> str:
        check = verify_backups(backup_dir, key=key)
        if not check.ok:
            raise BackupVerificationError("refusing to recover from an unverified backup: " + "; ".join(check.problems))
        return "; ".join(check.findings)

    try:
        runbook.step("verify the backups", verified)
        if "resources" in target.capabilities:  # Kubernetes: the namespace and its objects, as backed up
            runbook.step("restore the deployment's resources from the configuration backup (kubectl apply)",
                         lambda: cast("KubernetesTarget", target).restore_resources(
                             load_resources(backup_dir / "config", key=key)))  # fmt: skip
        runbook.step("restore infrastructure: start what is down", lambda: ensure_infrastructure(target))
        runbook.step("scale app to 0", lambda: target.scale("app", 0))
        runbook.step("start MongoDB on an empty data directory if it is down", lambda: ensure_mongodb(target))
        runbook.step("restore MongoDB", lambda: _restored(restore_mongodb(backup_dir / "mongodb",
                                                                          target.endpoints.mongodb_uri)))  # fmt: skip
        runbook.step("restore Redis", lambda: f"{restore_redis(backup_dir / 'redis', target).keys} keys")
        runbook.step("verify data integrity", lambda: _integrity(target))
        runbook.step(f"scale app to {replicas}", lambda: target.scale("app", replicas))
        runbook.step("verify deployment", lambda: verify_deployment(target))
    finally:
        timeline.mark("recovery_finished", ok=all(step.ok for step in runbook.steps))
    return runbook.steps


def _restored(manifest: Any) -> str:
    counts = ", ".join(f"{name}={entry['count']}" for name, entry in manifest.collections.items())
    return f"restored {counts}" if counts else "restored: the backup holds no collection"


def _integrity(target: Target) -> str:
    report = verify_data_integrity(target.endpoints.mongodb_uri, target.endpoints.database)
    if not report.ok:
        raise BackupError("integrity check failed: " + "; ".join(report.problems))
    return f"counts {report.counts}"


def verify_recovery(endpoints: Endpoints, backup_dir: Path | None = None) -> Check:
    """Every link answers, every replica is healthy, the data is intact and at least what the backup held."""
    check = Check()
    for link in check_connectivity(endpoints):
        (check.findings if link.ok else check.problems).append(link.line())
    integrity = verify_data_integrity(endpoints.mongodb_uri, endpoints.database,
                                      verify_backup(backup_dir / "mongodb") if backup_dir else None)  # fmt: skip
    check.findings.append(f"mongodb counts {integrity.counts}")
    check.problems += integrity.problems
    if backup_dir is not None:
        expected = verify_redis_backup(backup_dir / "redis")
        client = redis.Redis.from_url(endpoints.redis_url, socket_timeout=5)
        try:
            keys = int(client.dbsize())
        finally:
            client.close()
        if keys < expected.keys - expected.expires:
            check.problems.append(f"redis holds {keys} keys, the backup had {expected.keys}")
        else:
            check.findings.append(f"redis holds {keys} keys (backup: {expected.keys})")
    return check
