"""A drill that misses its budgets is reported failed, with the figures that show why."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_drill_over_budget_fails_and_leaves_nothing_running(tmp_path: Path) -> None:
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(
        "profiles:\n  impossible:\n    description: budgets no recovery can meet\n"
        "    rto: {database: 100ms}\n    rpo: {user_data: 100ms, calendar_events: 100ms, system_configuration: 100ms}\n"
    )
    report_dir, workdir = tmp_path / "report", tmp_path / "runs"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "database_failure", "-k", "mongodb_is_killed_and_restored",
         "-p", "no:cacheprovider", f"--budgets={budgets}",
         "--budget-profile=impossible", f"--workdir={workdir}", f"--drill-report-dir={report_dir}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout
    [scenario] = json.loads((report_dir / "drill-report.json").read_text())["scenarios"]
    assert scenario["verdict"] == "failed"
    assert scenario["budget_profile"] == "impossible"
    assert scenario["rto"]["verdict"] == "failed"
    assert "budget 0.1s" in scenario["rto"]["reason"]  # measured against the budget, both stated
    assert "s after the fault" in scenario["rto"]["reason"] or "recovered in" in scenario["rto"]["reason"]
    assert "FAILED   MongoDB is killed and restored from the latest backup" in result.stdout
    events = [moment["event"] for moment in scenario["timeline"]]
    assert events.index("fault_injected") < events.index("recovery_started") < events.index("recovery_finished")
    assert list(workdir.iterdir()) == []  # the failing drill's sandbox was torn down


def test_a_fault_that_does_not_land_makes_the_drill_unknown_not_passed(tmp_path: Path) -> None:
    report_dir, workdir = tmp_path / "report", tmp_path / "runs"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/drill_cases/case_drills.py", "-p", "no:cacheprovider",
         f"--workdir={workdir}", f"--drill-report-dir={report_dir}", f"--ledger-dir={tmp_path / 'ledger'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout
    assert "inconclusive (verdict unknown): fault did not land" in result.stdout
    [scenario] = json.loads((report_dir / "drill-report.json").read_text())["scenarios"]
    assert scenario["verdict"] == "unknown"
    assert any("no running process to kill" in note for note in scenario["notes"])
    assert "UNKNOWN  Redis is killed when it is already gone" in result.stdout
    assert list(workdir.iterdir()) == []
