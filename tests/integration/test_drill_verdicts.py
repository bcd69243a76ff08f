"""A drill whose fault does not land is unknown, not passed (a breached budget: test_drill_run.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


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
