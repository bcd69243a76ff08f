"""Faults are reverted whatever happens to the runner; unsafe drills are refused before anything starts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pymongo
import pytest

from chaos.guardian import KILL_TIMEOUT_S, log_path
from chaos.servers import launch
from chaos.servers.process import pid_alive
from chaos.wait import wait_for
from tests.runners import guardian_of, kill_with_guardian

ROOT = Path(__file__).resolve().parents[2]

INJECTOR = """
import sys, time, json
from pathlib import Path
from chaos.faults import Kill, Ledger, MongoCorruption, Partition
from chaos.sandbox_daemon import connect
endpoints = json.loads(Path(sys.argv[1]).read_text())["endpoints"]
ledger = Ledger(Path(sys.argv[2]))
if sys.argv[3] == "partition":
    fault = Partition(endpoints["toxiproxy_api"], "mongodb", ledger=ledger)
elif sys.argv[3] == "kill-mongodb":
    fault = Kill(connect(Path(sys.argv[1]).parent), "mongodb", ledger=ledger)
else:
    fault = MongoCorruption(endpoints["mongodb_uri"], endpoints["database"], "users", "garble", percent=50,
                            ledger=ledger)
with fault:
    print("injected", flush=True)
    time.sleep(600)
"""


def drill(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chaos.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)  # fmt: skip


@pytest.fixture
def daemon_sandbox(tmp_path: Path) -> Any:
    """A long-lived sandbox (`drill sandbox up`), as a game day or CI environment would be."""
    workdir = tmp_path / "sandbox"
    up = drill("sandbox", "up", "--workdir", str(workdir), "--replicas", "1")
    assert up.returncode == 0, up.stderr
    yield workdir, json.loads(up.stdout)
    drill("sandbox", "down", "--workdir", str(workdir))


def _users(endpoints: dict[str, Any]) -> list[dict[str, Any]]:
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(endpoints["mongodb_uri"])
    try:
        return list(client[endpoints["database"]].users.find().sort("_id", 1))
    finally:
        client.close()


def _inject_then(
    workdir: Path, ledger: Path, kind: str, end: signal.Signals | None
) -> subprocess.CompletedProcess[str]:
    """Inject a fault in a runner of its own, then end it with ``end`` (None: SIGKILL it and its guardian);
    the outcome's ``args`` is the runner's pid."""
    with subprocess.Popen([sys.executable, "-c", INJECTOR, str(workdir / "sandbox.json"), str(ledger), kind],
                          cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as runner:  # fmt: skip
        assert runner.stdout is not None
        assert runner.stdout.readline().strip() == "injected"
        if end is None:
            kill_with_guardian(runner)
        else:
            os.kill(runner.pid, end)
        out, err = runner.communicate(timeout=30)
    return subprocess.CompletedProcess(runner.pid, runner.returncode, out, err)


def test_the_guardian_reverts_a_partition_whose_runner_was_killed(daemon_sandbox: Any, tmp_path: Path) -> None:
    workdir, endpoints = daemon_sandbox
    ledger = tmp_path / "ledger"
    finished = _inject_then(workdir, ledger, "partition", signal.SIGKILL)
    assert finished.returncode == -signal.SIGKILL
    app = endpoints["apps"][0]
    # The guardian reverts through the sandbox's Toxiproxy as soon as the runner is gone.
    wait_for(lambda: httpx.get(f"{endpoints['toxiproxy_api']}/proxies/mongodb", timeout=5).json()["enabled"],
             what="the partition reverted by the guardian", timeout=KILL_TIMEOUT_S)  # fmt: skip
    wait_for(lambda: httpx.get(f"{app}/health", timeout=5).status_code == 200, what="the link back", timeout=20)
    wait_for(lambda: list(ledger.glob("*")) == [], what="the ledger entry removed", timeout=KILL_TIMEOUT_S)
    wait_for(lambda: guardian_of(finished.args) is None, what="the guardian to finish its log", timeout=KILL_TIMEOUT_S)
    assert "reverted partition of link 'mongodb'" in log_path(finished.args).read_text()


def test_a_partition_left_by_a_killed_runner_is_reverted_by_cleanup(daemon_sandbox: Any, tmp_path: Path) -> None:
    workdir, endpoints = daemon_sandbox
    ledger = tmp_path / "ledger"
    _inject_then(workdir, ledger, "partition", None)
    app = endpoints["apps"][0]
    assert httpx.get(f"{app}/health", timeout=5).json()["failed"] == ["mongodb"]  # still cut: nobody reverted
    assert len(list(ledger.glob("*.json"))) == 1
    result = drill("cleanup", "--ledger-dir", str(ledger), "--faults-only")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "reverted partition of link 'mongodb'" in result.stdout
    wait_for(lambda: httpx.get(f"{app}/health", timeout=5).status_code == 200, what="the link back", timeout=20)
    assert list(ledger.glob("*")) == []


def test_corruption_left_by_a_killed_runner_is_restored_by_cleanup(daemon_sandbox: Any, tmp_path: Path) -> None:
    workdir, endpoints = daemon_sandbox
    for i in range(20):
        httpx.post(f"{endpoints['apps'][0]}/users", json={"id": f"u{i}", "name": f"n{i}", "email": "e@x"})
    before = _users(endpoints)
    ledger = tmp_path / "ledger"
    _inject_then(workdir, ledger, "corruption", None)
    assert _users(endpoints) != before
    result = drill("cleanup", "--ledger-dir", str(ledger), "--faults-only")
    assert result.returncode == 0, result.stdout + result.stderr
    assert _users(endpoints) == before


def _mongo_answers(uri: str) -> bool:
    try:
        return launch.mongo_ready(uri)
    except launch.NOT_READY:
        return False


def test_a_store_killed_by_a_runner_that_died_is_started_again_by_cleanup(daemon_sandbox: Any, tmp_path: Path) -> None:
    workdir, endpoints = daemon_sandbox
    ledger = tmp_path / "ledger"
    _inject_then(workdir, ledger, "kill-mongodb", None)
    assert not _mongo_answers(endpoints["mongodb_uri"])  # still down: nobody restarted it
    [entry] = ledger.glob("*.json")
    assert json.loads(entry.read_text())["spec"]["killed"]  # the pid, recorded once the kill was done
    result = drill("cleanup", "--ledger-dir", str(ledger), "--faults-only")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "reverted SIGKILL to mongodb" in result.stdout
    assert _mongo_answers(endpoints["mongodb_uri"])  # reverted means: answering again
    assert list(ledger.glob("*")) == []


def test_a_kill_whose_target_cannot_be_found_is_not_reported_reverted(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    entry = {"id": "kill-0123456789ab", "kind": "kill", "owner_pid": int(gone.stdout), "owner_ticks": None,
             "created": time.time(), "spec": {"component": "mongodb", "replicas": "all", "signal": "SIGKILL",
                                              "target": "a sandbox", "killed": {"None": 4242}}}  # fmt: skip
    ledger.mkdir()
    (ledger / "kill-0123456789ab.json").write_text(json.dumps(entry))  # written before locators existed
    result = drill("cleanup", "--ledger-dir", str(ledger), "--faults-only")
    assert result.returncode == 1
    assert "could not revert kill kill-0123456789ab" in result.stdout
    assert "could not be reached from the ledger entry" in result.stdout
    assert "reverted" not in result.stdout.replace("could not revert", "")
    assert (ledger / "kill-0123456789ab.json").exists()


def test_ctrl_c_mid_fault_reverts_before_exit(daemon_sandbox: Any, tmp_path: Path) -> None:
    workdir, endpoints = daemon_sandbox
    ledger = tmp_path / "ledger"
    finished = _inject_then(workdir, ledger, "partition", signal.SIGINT)
    assert "KeyboardInterrupt" in finished.stderr
    client = httpx.get(f"{endpoints['toxiproxy_api']}/proxies/mongodb", timeout=5).json()
    assert client["enabled"] is True  # reverted by the runner itself, before it exited
    assert list(ledger.glob("*")) == []
    # Its guardian found nothing to revert: it removes its log when it ends having done nothing.
    wait_for(lambda: not log_path(finished.args).exists(), what="the guardian to end with nothing to do",
             timeout=KILL_TIMEOUT_S)  # fmt: skip


def _run_children(base: Path) -> list[tuple[int, int | None]]:
    return [(child["pid"], child["start_ticks"]) for record in base.glob("*/run.json")
            for child in json.loads(record.read_text())["children"].values()]  # fmt: skip


@pytest.mark.parametrize(("after_s", "guardian_too"), [(1.5, False), (4.0, True), (6.0, False)])
def test_a_drill_killed_at_any_point_leaves_nothing_after_cleanup(
    tmp_path: Path, after_s: float, guardian_too: bool
) -> None:
    """SIGKILLed: its guardian stops and reverts everything; killed with its guardian: `drill cleanup` does."""
    base, ledger = tmp_path / "runs", tmp_path / "ledger"
    with subprocess.Popen(
        [sys.executable, "-m", "pytest", "-m", "database_failure", "-q", "-p", "no:cacheprovider",
         f"--workdir={base}", f"--ledger-dir={ledger}", f"--drill-report-dir={tmp_path / 'report'}"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    ) as runner:  # fmt: skip
        wait_for(lambda: len(_run_children(base)) >= 6, what="the drill's stack", timeout=60)
        time.sleep(after_s)
        children = _run_children(base)
        if guardian_too:
            kill_with_guardian(runner)
        else:
            runner.kill()
    if guardian_too:
        result = drill("cleanup", "--ledger-dir", str(ledger), "--workdir", str(base))
        assert result.returncode == 0, result.stdout + result.stderr
        assert "reverted SIGKILL to mongodb" not in result.stdout  # its sandbox ended with the runner
    else:
        wait_for(lambda: list(base.iterdir()) == [], what="the guardian to remove the run", timeout=KILL_TIMEOUT_S)
    assert not [pid for pid, ticks in children if pid_alive(pid, ticks)]
    assert list(ledger.glob("*.json")) == []
    assert list(base.iterdir()) == []


def test_a_target_not_allowed_to_be_drilled_is_refused_before_anything_starts(tmp_path: Path) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text("targets:\n  prod:\n    kind: local\n    drill_allowed: false\n    replicas: 3\n"
                       "    blast_radius: {max_replicas: 1}\n")  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "drill", "-p", "no:cacheprovider", f"--targets={targets}",
         "--target=prod", f"--workdir={tmp_path / 'runs'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 4
    assert "target 'prod'" in result.stderr
    assert "is not drill_allowed" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_an_invalid_targets_file_names_the_key(tmp_path: Path) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text("targets:\n  sandbox:\n    kind: local\n    drill_allowed: yes please\n    replicas: 3\n"
                       "    blast_radius: {max_replicas: 1}\n")  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "drill", "-p", "no:cacheprovider", f"--targets={targets}"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 4
    assert "targets.sandbox.drill_allowed: expected bool, got 'yes please'" in result.stderr


def test_dry_run_prints_the_plan_and_starts_nothing(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "drill", "--dry-run", "-p", "no:cacheprovider",
         f"--workdir={tmp_path / 'runs'}", f"--ledger-dir={tmp_path / 'ledger'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout
    assert "DRY RUN: nothing is started, injected or changed" in result.stdout
    assert "FAULT kill: SIGKILL to the MongoDB server" in result.stdout
    assert "blast radius: at most 3 replicas" in result.stdout
    assert "RECOVERY (plan: MongoDB Recovery)" in result.stdout
    assert "?? no step definition" not in result.stdout
    assert not (tmp_path / "runs").exists()
    assert not (tmp_path / "ledger").exists()


def test_the_next_run_reverts_what_a_crashed_run_left(daemon_sandbox: Any, tmp_path: Path) -> None:
    workdir, endpoints = daemon_sandbox
    ledger = tmp_path / "ledger"
    _inject_then(workdir, ledger, "partition", None)
    assert httpx.get(f"{endpoints['toxiproxy_api']}/proxies/mongodb", timeout=5).json()["enabled"] is False
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/unit/test_verdict.py", "-q", "-p", "no:cacheprovider",
         f"--ledger-dir={ledger}", f"--workdir={tmp_path / 'runs'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout
    assert "cleanup of an earlier crashed run: reverted partition of link 'mongodb'" in result.stdout
    assert httpx.get(f"{endpoints['toxiproxy_api']}/proxies/mongodb", timeout=5).json()["enabled"] is True
