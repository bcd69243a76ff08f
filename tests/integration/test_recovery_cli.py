"""The plan's scripts as `drill` subcommands, against a sandbox run by `drill sandbox up`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def drill(*args: str, key: str | None = "", workdir: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DRILL_BACKUP_KEY"}
    if key:
        env["DRILL_BACKUP_KEY"] = key
    extra = ["--sandbox-workdir", str(workdir)] if workdir else []
    return subprocess.run([sys.executable, "-m", "chaos.cli", *args, *extra], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env=env)  # fmt: skip


@pytest.fixture(scope="module")
def backup_key() -> str:
    return drill("backup", "keygen").stdout.strip()


@pytest.fixture
def stack(tmp_path: Path) -> Any:
    workdir = tmp_path / "sandbox"
    up = subprocess.run([sys.executable, "-m", "chaos.cli", "sandbox", "up", "--workdir", str(workdir)],
                        cwd=ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert up.returncode == 0, up.stderr
    endpoints = json.loads(up.stdout)
    app = endpoints["apps"][0]
    for i in range(25):
        httpx.post(f"{app}/users", json={"id": f"u{i}", "name": f"n{i}", "email": "e@x"})
        httpx.post(f"{app}/events", json={"id": f"e{i}", "user_id": f"u{i}", "title": "t", "start": "s", "end": "e"})
        httpx.post(f"{app}/sessions", json={"user_id": f"u{i}", "id": f"s{i}"})
    yield workdir, endpoints
    subprocess.run([sys.executable, "-m", "chaos.cli", "sandbox", "down", "--workdir", str(workdir)], cwd=ROOT,
                   capture_output=True, timeout=120)  # fmt: skip


def test_backup_all_verify_and_recover_all(stack: Any, tmp_path: Path, backup_key: str) -> None:
    workdir, endpoints = stack
    out = tmp_path / "backup"
    result = drill("backup", "all", "--output", str(out), key=backup_key, workdir=workdir)
    assert result.returncode == 0, result.stderr
    assert drill("verify", "backups", "--backup-dir", str(out), key=backup_key).returncode == 0
    proof = drill("test", "backups", "--backup-dir", str(out), key=backup_key, workdir=workdir)
    assert proof.returncode == 0, proof.stdout + proof.stderr
    assert "events: 25 documents restored identical" in proof.stdout
    # lose everything, then run the plan's recovery
    assert drill("restore", "mongodb", "--backup-dir", str(out / "mongodb"), workdir=workdir).returncode == 0
    httpx.delete(f"{endpoints['apps'][0]}/events/e3")
    recovered = drill("recover", "all", "--backup-dir", str(out), key=backup_key, workdir=workdir)
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert "ok   restore MongoDB" in recovered.stdout
    assert httpx.get(f"{endpoints['apps'][0]}/events/e3").status_code == 200
    assert httpx.get(f"{endpoints['apps'][1]}/sessions/s3").json() == {"user_id": "u3"}


def test_a_corrupt_backup_is_refused_naming_the_file(stack: Any, tmp_path: Path, backup_key: str) -> None:
    workdir, _ = stack
    out = tmp_path / "backup"
    assert drill("backup", "all", "--output", str(out), key=backup_key, workdir=workdir).returncode == 0
    events = out / "mongodb" / "events.bson.gz"
    events.write_bytes(events.read_bytes()[:-30])
    verified = drill("verify", "mongodb-backup", "--backup-dir", str(out / "mongodb"))
    assert verified.returncode == 1
    assert "events.bson.gz" in verified.stderr
    refused = drill("recover", "all", "--backup-dir", str(out), key=backup_key, workdir=workdir)
    assert refused.returncode == 1
    assert "refusing to recover from an unverified backup" in refused.stderr


def test_config_backup_never_writes_secrets_in_clear(stack: Any, tmp_path: Path, backup_key: str) -> None:
    workdir, endpoints = stack
    out = tmp_path / "config"
    assert drill("backup", "config", "--output", str(out), key=backup_key, workdir=workdir).returncode == 0
    written = "".join(path.read_text() for path in out.iterdir())
    for secret in (endpoints["mongodb_proxy_uri"], endpoints["redis_proxy_url"]):
        assert secret not in written
    assert drill("verify", "config", "--backup-dir", str(out), key=backup_key).returncode == 0
    wrong = drill("verify", "config", "--backup-dir", str(out), key=drill("backup", "keygen").stdout.strip())
    assert wrong.returncode == 1
    assert "sealed with key id" in wrong.stderr, wrong.stderr
    assert "DRILL_BACKUP_KEY is another key" in wrong.stderr
    missing = drill("backup", "config", "--output", str(tmp_path / "again"), key=None, workdir=workdir)
    assert missing.returncode == 2
    assert "DRILL_BACKUP_KEY" in missing.stderr


def test_connectivity_names_the_broken_link(stack: Any) -> None:
    workdir, endpoints = stack
    assert drill("test", "connectivity", workdir=workdir).returncode == 0
    httpx.post(f"{endpoints['toxiproxy_api']}/proxies/redis", json={"enabled": False})
    broken = drill("test", "connectivity", workdir=workdir)
    assert broken.returncode == 1
    assert "BROKEN app -> Redis (through its link)" in broken.stdout


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert drill("backup", "mongodb", "--mongodb-uri", "mongodb://127.0.0.1:9").returncode == 2
    result = drill("restore", "mongodb", "--backup-dir", str(tmp_path / "absent"))
    assert result.returncode == 2
    assert "no such directory" in result.stderr
