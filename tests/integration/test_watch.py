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
from chaos.measure.probe import DEFAULT_TIMEOUT_S as PROBE_TIMEOUT_S
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
DRIVER_HEARTBEAT_S = 0.5  # pymongo's minHeartbeatFrequencyMS: how often it rechecks a lost server at most


def test_a_replica_failing_every_other_probe_fails_the_watch(sandbox: LocalTarget, front: Front) -> None:
    # Every other health check of replica 0 answered 503 by a server in front of it.
    flaky_front = front(
        sandbox.endpoints.apps[0], lambda path, nth: (0.0, 503 if path == "/health" and nth % 2 else None)
    )
    endpoints = dataclasses.replace(sandbox.endpoints, apps=(flaky_front, *sandbox.endpoints.apps[1:]))
    report = watch(endpoints, duration_s=6, workloads=[WORKLOADS["calendar_events"]],
                   budgets=load_budgets(DEFAULT_BUDGETS, "sandbox"), component="application")  # fmt: skip
    # Degraded all along (half its health checks fail, in runs of one): one outage that never ended, whose
    # RTO fails, however short each run of failures was.
    assert report.verdict is Verdict.FAILED
    [(incident, rto)] = report.outages
    assert incident.streams == (f"health {flaky_front}",)
    assert incident.end is None
    assert rto.verdict is Verdict.FAILED
    assert f"health {flaky_front} did not answer 5 consecutive probes" in rto.reason
    assert incident.failed_samples >= 20  # about 60 in 6 s: every other one of 20 probes a second


def test_writes_lost_in_a_later_outage_are_judged_by_their_own_window(sandbox: LocalTarget, tmp_path: Path) -> None:
    endpoints = sandbox.endpoints
    budgets = tmp_path / "budgets.yaml"
    # The two outages are 5 s apart: a 2 s availability window keeps them two (any window over both holds a
    # failure rate above the budget, and a degraded period is one outage).
    budgets.write_text(
        "profiles:\n  tight:\n    rto: {database: 60s}\n    rpo: {calendar_events: 1s}\n"
        "    availability: {max_failed: 1%, window: 2s}\n"
    )
    moments: dict[str, float] = {}

    def two_outages() -> None:
        time.sleep(1.0)
        sandbox.kill("mongodb")  # the first outage loses nothing: same data directory
        time.sleep(1.0)
        sandbox.start_component("mongodb")
        time.sleep(2.0)
        moments["backup_started"] = time.time()
        backup_mongodb(endpoints.mongodb_uri, endpoints.database, tmp_path / "backup")
        moments["backup_done"] = time.time()
        time.sleep(3.0)  # writes acknowledged now are lost by the second outage's restore
        # The plan's MongoDB Recovery, by hand: the app stopped, the database lost and restored, the app started.
        moments["stopping_app"] = time.time()
        sandbox.scale("app", 0)
        moments["app_stopped"] = time.time()
        sandbox.kill("mongodb")
        sandbox.start_component("mongodb", fresh_data=True)
        restore_mongodb(tmp_path / "backup", sandbox.endpoints.mongodb_uri, endpoints.database)
        sandbox.scale("app", 3)

    operator = threading.Thread(target=two_outages)
    operator.start()
    report = watch(endpoints, duration_s=12, workloads=[WORKLOADS["calendar_events"]],
                   budgets=load_budgets(budgets, "tight"), component="database", out=tmp_path)  # fmt: skip
    operator.join()
    assert len(report.outages) == 2
    loss = report.rpo["calendar_events"]
    assert loss.lost > 50
    assert loss.verdict is Verdict.FAILED
    [window] = loss.windows
    second = report.outages[1][0]
    assert window.outage_start == pytest.approx(second.start_wall)
    # The bounds come from what the operator and the writer saw, not from the sleeps above. A write
    # acknowledged before the dump began is in the backup; one sent after it ended is not, and every
    # such write acknowledged by the app before it was stopped is lost.
    acks = [json.loads(line) for line in (tmp_path / "ack-log-calendar_events.jsonl").read_text().splitlines()]
    surely_lost = [record for record in acks if record["outcome"] == "acked"
                   and moments["backup_done"] < record["sent_wall"] < moments["stopping_app"]]  # fmt: skip
    assert {record["id"] for record in surely_lost} <= set(loss.ids["lost"])
    assert moments["backup_started"] <= window.first_lost <= min(record["done_wall"] for record in surely_lost)
    # The window ends at the later of the last lost write and the outage's first failed probe. The last
    # lost write was sent while the app ran; the outage's first failed probe came at most its start
    # resolution after the last answered one, itself sent before the app was stopped.
    end = max(window.last_lost, window.outage_start or 0.0)
    assert end >= max(record["done_wall"] for record in surely_lost)
    [last] = [record for record in acks if record["outcome"] == "acked" and record["done_wall"] == window.last_lost]
    assert last["sent_wall"] < moments["app_stopped"]
    assert second.start_resolution_s is not None
    assert second.start_wall <= moments["app_stopped"] + second.start_resolution_s
    assert loss.window_s == pytest.approx(end - window.first_lost)


def test_watch_sees_a_manual_outage_and_keeps_the_evidence(sandbox: LocalTarget, tmp_path: Path) -> None:
    moments: dict[str, float] = {}

    def break_and_repair() -> None:
        time.sleep(1.5)
        moments["killing"] = time.time()
        sandbox.kill("mongodb")
        moments["killed"] = time.time()
        time.sleep(2.5)
        moments["starting"] = time.time()
        sandbox.start_component("mongodb")  # same data directory: nothing should be lost
        moments["started"] = time.time()

    operator = threading.Thread(target=break_and_repair)
    operator.start()
    report = watch(
        sandbox.endpoints, duration_s=10, workloads=[WORKLOADS["calendar_events"], WORKLOADS["sessions"]],
        budgets=load_budgets(DEFAULT_BUDGETS, "sandbox"), component="database", out=tmp_path,
    )  # fmt: skip
    operator.join()
    [(incident, rto)] = report.outages
    assert incident.end_wall is not None
    assert incident.start_resolution_s is not None
    assert incident.end_resolution_s is not None
    # Bounds from the operator's moments, the prober's timeout and the outage's own resolutions; a health
    # check of the app waits up to 1 s for MongoDB before it fails.
    # A probe that failed was answered after the kill began, at most the probe timeout after it was sent.
    assert incident.start_wall >= moments["killing"] - PROBE_TIMEOUT_S
    # Every probe sent after the kill and before MongoDB can be back fails, so the last one answered
    # before the outage was sent before the kill had ended.
    assert incident.start_wall <= moments["killed"] + incident.start_resolution_s
    # The probe that ended it was answered by a running MongoDB, within the probe timeout.
    assert incident.end_wall >= moments["starting"] - PROBE_TIMEOUT_S
    # Once MongoDB answers, the app's driver finds it again within one of its heartbeats, while a health
    # check waits for it: the last failed probe was sent before then.
    assert incident.end_wall <= moments["started"] + DRIVER_HEARTBEAT_S + incident.end_resolution_s
    # Down for 2.5 s: longer than the app waits, so some health checks failed outright.
    assert incident.duration_s is not None
    assert incident.duration_s > 0
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
