"""``drill sandbox up|status|down`` for a person at a terminal, and bad budgets refused by pytest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from chaos.servers.process import pid_alive

ROOT = Path(__file__).resolve().parents[2]


def drill(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chaos.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)  # fmt: skip


def test_sandbox_up_status_down(tmp_path: Path) -> None:
    workdir = str(tmp_path / "sandbox")
    up = drill("sandbox", "up", "--workdir", workdir, "--replicas", "2")
    assert up.returncode == 0, up.stderr
    endpoints = json.loads(up.stdout)
    assert len(endpoints["apps"]) == 2
    assert {"mongodb_uri", "mongodb_proxy_uri", "redis_url", "redis_proxy_url", "toxiproxy_api",
            "prometheus_api"} <= set(endpoints)  # fmt: skip
    assert httpx.get(f"{endpoints['apps'][1]}/health").status_code == 200
    assert drill("sandbox", "up", "--workdir", workdir).stdout == up.stdout  # already up: same stack
    status = drill("sandbox", "status", "--workdir", workdir)
    assert status.returncode == 0
    state = json.loads(status.stdout)
    assert state["running"]
    assert state["mongodb"] == "ok"
    assert state["prometheus"] == "ok"
    assert set(state["apps"].values()) == {"ok"}
    children = [c["pid"] for record in (tmp_path / "sandbox" / "runs").glob("*/run.json")
                for c in json.loads(record.read_text())["children"].values()]  # fmt: skip
    assert len(children) == 6  # MongoDB, Redis, Toxiproxy, Prometheus, two replicas
    down = drill("sandbox", "down", "--workdir", workdir)
    assert down.returncode == 0
    assert "sandbox stopped" in down.stderr
    assert not any(pid_alive(pid) for pid in children)
    after = drill("sandbox", "status", "--workdir", workdir)
    assert after.returncode == 1
    assert json.loads(after.stdout)["running"] is False


def test_bad_replica_count_is_a_usage_error(tmp_path: Path) -> None:
    result = drill("sandbox", "up", "--workdir", str(tmp_path), "--replicas", "0")
    assert result.returncode == 2
    assert "argument --replicas: 0 is outside 1..16" in result.stderr


def test_pytest_refuses_an_invalid_budgets_file_before_running_anything(tmp_path: Path) -> None:
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("profiles:\n  sandbox:\n    rto:\n      database: soon\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "drill", f"--budgets={budgets}", "-p", "no:cacheprovider",
         f"--workdir={tmp_path / 'runs'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 4  # pytest's usage error
    assert f"{budgets}:4: profiles.sandbox.rto.database: 'soon' is not a duration" in result.stderr
    assert not (tmp_path / "runs").exists()  # no sandbox was started
