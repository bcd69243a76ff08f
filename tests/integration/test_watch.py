"""``drill watch`` measures a recovery it did not perform."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from chaos.config import DEFAULT_BUDGETS, load_budgets
from chaos.measure.verdict import Verdict
from chaos.measure.workload import WORKLOADS
from chaos.recovery.mongo import backup_mongodb
from chaos.recovery.mongo_restore import restore_mongodb
from chaos.watch import watch
from tests.integration.conftest import ALL_CORES, busy

if TYPE_CHECKING:
    from chaos.targets.local import LocalTarget
    from tests.integration.conftest import Front

ROOT = Path(__file__).resolve().parents[2]


def test_a_replica_failing_every_other_probe_fails_the_watch(sandbox: LocalTarget, front: Front) -> None:
    # Every other health check of replica 0 answered 503 by a server in front of it.
    flaky_front = front(
        sandbox.endpoints.apps[0], lambda path, nth: (0.0, 503 if path == "/health" and nth % 2 else None)
    )
    endpoints = dataclasses.replace(sandbox.endpoints, apps=(flaky_front, *sandbox.endpoints.apps[1:]))
    report = watch(endpoints, duration_s=6, workloads=[WORKLOADS["calendar_events"]],
                   budgets=load_budgets(DEFAULT_BUDGETS, "sandbox"), component="application")  # fmt: skip
    assert report.verdict is Verdict.FAILED
    assert report.availability.verdict is Verdict.FAILED
    flaky = report.availability.replicas[0]
    assert flaky.replica == flaky_front
    assert flaky.verdict is Verdict.FAILED
    assert flaky.failures.get("5xx", 0) >= 0.2 * flaky.probes  # half the health checks: the front's own 503s
    assert any(line.startswith(f"  {flaky_front}: ") for line in report.lines())


def test_writes_lost_in_a_later_outage_are_judged_by_their_own_window(sandbox: LocalTarget, tmp_path: Path) -> None:
    endpoints = sandbox.endpoints
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("profiles:\n  tight:\n    rto: {database: 60s}\n    rpo: {calendar_events: 1s}\n")

    def two_outages() -> None:
        time.sleep(1.0)
        sandbox.kill("mongodb")  # the first outage loses nothing: same data directory
        time.sleep(1.0)
        sandbox.start_component("mongodb")
        time.sleep(2.0)
        backup_mongodb(endpoints.mongodb_uri, endpoints.database, tmp_path / "backup")
        time.sleep(3.0)  # writes acknowledged now are lost by the second outage's restore
        # The plan's MongoDB Recovery, by hand: the app stopped, the database lost and restored, the app started.
        sandbox.scale("app", 0)
        sandbox.kill("mongodb")
        sandbox.start_component("mongodb", fresh_data=True)
        restore_mongodb(tmp_path / "backup", sandbox.endpoints.mongodb_uri, endpoints.database)
        sandbox.scale("app", 3)

    operator = threading.Thread(target=two_outages)
    operator.start()
    report = watch(endpoints, duration_s=12, workloads=[WORKLOADS["calendar_events"]],
                   budgets=load_budgets(budgets, "tight"), component="database")  # fmt: skip
    operator.join()
    assert len(report.outages) == 2
    loss = report.rpo["calendar_events"]
    assert loss.lost > 50
    assert loss.verdict is Verdict.FAILED
    [window] = loss.windows
    assert window.outage_start == pytest.approx(report.outages[1][0].start_wall)
    assert 2.5 <= loss.window_s <= 4.5  # from the backup to the second outage: about 3 s


def test_watch_sees_a_manual_outage_and_keeps_the_evidence(sandbox: LocalTarget, tmp_path: Path) -> None:
    def break_and_repair() -> None:
        time.sleep(1.5)
        sandbox.kill("mongodb")
        time.sleep(1.0)
        sandbox.start_component("mongodb")  # same data directory: nothing should be lost

    operator = threading.Thread(target=break_and_repair)
    operator.start()
    report = watch(
        sandbox.endpoints, duration_s=8, workloads=[WORKLOADS["calendar_events"], WORKLOADS["sessions"]],
        budgets=load_budgets(DEFAULT_BUDGETS, "sandbox"), component="database", out=tmp_path,
    )  # fmt: skip
    operator.join()
    [(incident, rto)] = report.outages
    assert incident.duration_s is not None
    # MongoDB is down for a second and more; the app waits up to 1 s for it, so a probe sent in the
    # last second before it is back gets a slow answer, not a failure: the outage is shorter by that.
    assert 0.2 <= incident.duration_s <= 6.0
    assert rto.measured_s is not None
    assert rto.verdict.value == "passed"
    assert report.rpo["calendar_events"].lost == 0
    assert report.rpo["calendar_events"].acked > 0
    saved = json.loads((tmp_path / "watch-report.json").read_text())
    assert saved["outages"][0]["rto"]["measured_s"] == pytest.approx(rto.measured_s, abs=0.001)
    for name in ("probe-timeline.jsonl", "ack-log-calendar_events.jsonl", "classification-sessions.json"):
        assert (tmp_path / name).stat().st_size > 0


def test_watch_refuses_a_target_it_cannot_read_back() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "chaos.cli", "watch", "--duration", "1", "--app", "http://127.0.0.1:9"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "also give --mongodb-uri and --redis-url" in result.stderr


def test_watch_refuses_an_unknown_data_class(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "chaos.cli", "watch", "--duration", "1", "--track", "users, invoices",
         "--sandbox-workdir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "no writer for 'invoices'" in result.stderr


def test_watch_refuses_invalid_budgets_before_writing_anything(tmp_path: Path) -> None:
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("profiles:\n  sandbox:\n    rpo:\n      calendar_events: -1m\n")
    result = subprocess.run(
        [sys.executable, "-m", "chaos.cli", "watch", "--duration", "1", "--budgets", str(budgets),
         "--sandbox-workdir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert f"{budgets}:4: profiles.sandbox.rpo.calendar_events: '-1m' is not a duration" in result.stderr


def test_a_quiet_minute_with_every_core_busy_is_no_outage(sandbox: LocalTarget) -> None:
    """Nothing breaks for 60 s while other processes keep every core busy: no outage, no failed judgement."""
    with busy(ALL_CORES):
        report = watch(sandbox.endpoints, duration_s=60, workloads=[WORKLOADS["calendar_events"]],
                       budgets=load_budgets(DEFAULT_BUDGETS, "sandbox"), component="application")  # fmt: skip
    assert report.outages == [], report.lines()
    assert report.availability.verdict is Verdict.PASSED, report.lines()
    assert report.verdict is Verdict.PASSED, report.lines()
