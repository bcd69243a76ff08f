"""A live sandbox with data, bad inputs prepared around it, and a fingerprint of everything they must not change."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pymongo
import pytest
import redis
from bson import json_util

from chaos.recovery.redis import backup_redis
from chaos.servers import launch
from chaos.servers.process import ManagedProcess, is_ours
from chaos.wait import wait_for

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_DATABASES = ("admin", "config", "local")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/bad_input" in item.nodeid:
            item.add_marker(pytest.mark.integration)


def drill(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chaos.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


def drill_run_with(targets: Path, scratch: Path) -> subprocess.CompletedProcess[str]:
    """`drill run` of the database-failure drills with ``targets``, everything it writes under ``scratch``."""
    return drill("run", "-m", "database_failure", f"--targets={targets}", f"--workdir={scratch}/runs",
                 f"--ledger-dir={scratch}/ledger", f"--drill-report-dir={scratch}/report",
                 f"--alluredir={scratch}/allure")  # fmt: skip


@dataclass(frozen=True)
class Live:
    """The sandbox the cases aim at, and the files they are given."""

    workdir: Path  # of `drill sandbox up`
    endpoints: dict[str, Any]
    files: Path  # prepared inputs: backups, budgets, state files, ledgers
    scratch: Path  # where a case may try to write; must stay as it was

    def fingerprint(self) -> dict[str, Any]:
        """Everything a bad input must leave alone: data, processes, proxies, files."""
        return {
            "mongodb": _mongodb(self.endpoints["mongodb_uri"]),
            "redis": _redis(self.endpoints["redis_url"]),
            "processes": _processes(self.workdir),
            "proxies": httpx.get(f"{self.endpoints['toxiproxy_api']}/proxies", timeout=5).json(),
            "files": _files(self.files) | _files(self.scratch),
        }


def _mongodb(uri: str) -> dict[str, dict[str, str]]:
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
    try:
        found = {}
        for database in client.list_database_names():
            if database in SYSTEM_DATABASES:
                continue
            db = client[database]
            found[database] = {
                name: hashlib.sha256(json_util.dumps(list(db[name].find().sort("_id", 1))).encode()).hexdigest()
                for name in sorted(db.list_collection_names())
            }
        return found
    finally:
        client.close()


def _redis(url: str) -> str:
    client = redis.Redis.from_url(url)
    try:
        keys = sorted(client.scan_iter(count=1000))
        return hashlib.sha256(b"".join(key + (client.dump(key) or b"") for key in keys)).hexdigest()
    finally:
        client.close()


def _processes(workdir: Path) -> list[tuple[str, int]]:
    state = json.loads((workdir / "sandbox.json").read_text())
    alive = [("daemon", state["pid"])] if is_ours(state["pid"], state["start_ticks"], state["argv"]) else []
    for record in (workdir / "runs").glob("*/run.json"):
        for name, child in json.loads(record.read_text())["children"].items():
            if is_ours(child["pid"], child["start_ticks"], child["argv"]):
                alive.append((name, child["pid"]))
    return sorted(alive)


def _files(root: Path) -> set[tuple[str, int, str]]:
    return {(str(path.relative_to(root)), path.stat().st_size,
             hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir")
            for path in root.rglob("*")}  # fmt: skip


def _seed(endpoints: dict[str, Any]) -> None:
    app = endpoints["apps"][0]
    with httpx.Client(base_url=app, timeout=10) as http:
        for i in range(20):
            assert http.post("/users", json={"id": f"u{i}", "name": f"user {i}", "email": f"u{i}@x"}).status_code == 201
            event = {"id": f"e{i}", "user_id": f"u{i}", "title": f"event {i}", "start": "2026-12-01T09:00:00Z",
                     "end": "2026-12-01T10:00:00Z"}  # fmt: skip
            assert http.post("/events", json=event).status_code == 201
            assert http.post("/sessions", json={"user_id": f"u{i}"}).status_code == 201
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(endpoints["mongodb_uri"])
    try:
        client["other"]["things"].insert_one({"_id": "t1", "what": "a database that is not the app's"})
    finally:
        client.close()


def _garbage_documents_backup(good: Path, bad: Path) -> None:
    """The good backup with every event replaced by bytes that are not BSON; gzip and manifest hash made to fit."""
    shutil.copytree(good, bad)
    manifest = json.loads((bad / "manifest.json").read_text())
    entry = manifest["collections"]["events"]
    garbage = b"".join((16).to_bytes(4, "little") + b"\xff" * 12 for _ in range(entry["count"]))
    data = gzip.compress(garbage, mtime=0)
    (bad / entry["file"]).write_bytes(data)
    entry["sha256"] = hashlib.sha256(data).hexdigest()
    (bad / "manifest.json").write_text(json.dumps(manifest, indent=2))


def _empty_redis_backup(output: Path, scratch: Path) -> None:
    port = launch.free_port()
    server = ManagedProcess(launch.redis_spec("empty-redis", port, scratch / "data", scratch / "log", "none"))
    try:
        url = f"redis://127.0.0.1:{port}/0"
        wait_for(lambda: launch.redis_ready(url), what="a scratch redis-server", timeout=20, not_yet=launch.NOT_READY)
        backup_redis(url, output)
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)


_SANDBOX_TARGET = (
    b"targets:\n  sandbox:\n    kind: local\n    drill_allowed: true\n    replicas: 3\n"
    b"    blast_radius: {max_replicas: 3, max_fraction: 1.0}\n"
)


def _prepare(files: Path, live_workdir: Path) -> None:
    backups = files / "backups"
    assert drill("backup", "mongodb", "--output", str(backups / "mongodb"), "--sandbox-workdir",
                 str(live_workdir)).returncode == 0  # fmt: skip
    assert drill("backup", "redis", "--output", str(backups / "redis"), "--sandbox-workdir",
                 str(live_workdir)).returncode == 0  # fmt: skip
    _garbage_documents_backup(backups / "mongodb", backups / "bad-bson")
    empty = backups / "empty-calender"
    empty.mkdir()
    (empty / "manifest.json").write_text(json.dumps({"database": "calender", "source": "mongodb://127.0.0.1:1",
                                                     "created_at": 0, "collections": {}}))  # fmt: skip
    assert drill("backup", "mongodb", "--output", str(backups / "other"), "--database", "other",
                 "--sandbox-workdir", str(live_workdir)).returncode == 0  # fmt: skip
    _empty_redis_backup(backups / "empty-redis", files / "empty-redis-scratch")
    texts = {
        "budgets-binary.yaml": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe",
        "budgets-inf.yaml": b"profiles:\n  sandbox:\n    rto: {database: .inf, application: 30s}\n",
        "budgets-huge.yaml": b"profiles:\n  sandbox:\n    rto: {database: 1.0e+29, application: 30s}\n",
        "budgets-bomb.yaml": b"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        b"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nprofiles: {sandbox: {rto: {database: 1m}}}\n",
        "budgets-dup.yaml": b"profiles:\n  sandbox:\n    rto:\n      database: 1m\n      database: 1h\n",
        "budgets-norto.yaml": b"profiles:\n  sandbox:\n    description: budgets with neither rto nor rpo\n",
        "targets-binary.yaml": b"\x00\x01\x02\xff",
        "targets-bool.yaml": b"targets:\n  sandbox:\n    kind: local\n    drill_allowed: true\n    replicas: 3\n"
        b"    blast_radius: {max_replicas: 3, max_fraction: true}\n",
        "targets-notify-unset.yaml": _SANDBOX_TARGET
        + b"    notifications:\n      team: ['mmost://chat.invalid/${DRILL_TEST_UNSET_TOKEN}']\n",
        "targets-notify-scheme.yaml": _SANDBOX_TARGET
        + b"    notifications:\n      team: ['slak://chat.invalid/token']\n",
        "budgets-communication-zero.yaml": b"profiles:\n  sandbox:\n    rto: {database: 1m}\n"
        b"    rpo: {user_data: 1m, calendar_events: 1m, system_configuration: 1m}\n"
        b"    communication: {team_notified: 0s}\n",
        "a-file": b"not a directory\n",
        "full/keep": b"something already here\n",
        "ledger-binary/kill-0123456789ab.json": bytes(range(256)),
        "ledger-truncated/kill-ba9876543210.json": b'{"id": "kill-ba9876543210", "kind": "kill", "spec": {"comp',
        "state-garbled/sandbox.json": b'{"pid": 1, "start_ti',
    }
    for name, data in texts.items():
        (files / name).parent.mkdir(parents=True, exist_ok=True)
        (files / name).write_bytes(data)
    pid1 = {"pid": 1, "start_ticks": 0, "argv": ["/sbin/init"], "control": "http://127.0.0.1:9", "endpoints": {},
            "replicas": 1, "token": "not-the-daemons"}  # fmt: skip
    (files / "state-pid1").mkdir()
    (files / "state-pid1" / "sandbox.json").write_text(json.dumps(pid1))


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    base = tmp_path_factory.mktemp("bad-input")
    workdir, files, scratch = base / "sandbox", base / "files", base / "scratch"
    files.mkdir()
    scratch.mkdir()
    up = drill("sandbox", "up", "--workdir", str(workdir), "--replicas", "1")
    assert up.returncode == 0, up.stderr
    try:
        endpoints = json.loads(up.stdout)
        _seed(endpoints)
        _prepare(files, workdir)
        yield Live(workdir, endpoints, files, scratch)
    finally:
        drill("sandbox", "down", "--workdir", str(workdir))
