"""``drill watch`` measures a recovery it did not perform."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from chaos.config import DEFAULT_BUDGETS, load_budgets
from chaos.measure.workload import WORKLOADS
from chaos.watch import watch

if TYPE_CHECKING:
    from chaos.targets.local import LocalTarget

ROOT = Path(__file__).resolve().parents[2]


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
    assert 1.0 <= incident.duration_s <= 6.0
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
