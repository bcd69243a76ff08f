"""Every drill, with its fault or its recovery taken away, must not pass (issue 10).

Each mutant (tests/drill_cases/mutants.py) runs the real drills on a real
sandbox in a pytest process of its own; the run's drill-report.json says how
each scenario was judged. Between them, the mutants cover all the drills.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Short budgets: a drill whose recovery never comes is judged as soon as they run out.
BUDGETS = """profiles:
  mutants:
    description: short, so that a drill whose recovery never comes ends quickly
    rto: {application: 8s, database: 8s, monitoring: 15s}
    rpo: {user_data: 15s, calendar_events: 15s, system_configuration: 1m, sessions: 15s}
"""


def _drills() -> set[str]:
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "drill", "-p", "no:cacheprovider"]
    listed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    return {line for line in listed.stdout.splitlines() if "::" in line}


def _mutated(tmp_path: Path, mutant: str, *select: str) -> dict[str, dict[str, object]]:
    """Run the selected drills under ``mutant``; their report entries by pytest node id."""
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(BUDGETS)
    report_dir = tmp_path / mutant
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.drill_cases.mutants", "-p", "no:cacheprovider", *select,
         f"--budgets={budgets}", "--budget-profile=mutants", f"--workdir={tmp_path / 'runs'}",
         f"--ledger-dir={tmp_path / 'ledger'}", f"--drill-report-dir={report_dir}", "-q"],
        cwd=ROOT, capture_output=True, text=True, timeout=1500, env={**os.environ, "CHAOS_MUTANT": mutant},
    )  # fmt: skip
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    scenarios = json.loads((report_dir / "drill-report.json").read_text())["scenarios"]
    assert not list((tmp_path / "runs").iterdir()), "a mutated drill left its sandbox behind"
    return {scenario["nodeid"]: scenario for scenario in scenarios}


@pytest.fixture(scope="module")
def mutated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, dict[str, object]]]:
    base = tmp_path_factory.mktemp("mutants")
    return {
        "fault-disabled": _mutated(base, "fault-disabled", "-m", "drill and not backup_testing"),
        "defect-removed": _mutated(base, "defect-removed", "-m", "drill", "-k", "bad_release"),
        # Every drill with a recovery procedure; a killed replica, a cut link and a thawed server need none.
        "recovery-skipped": _mutated(base, "recovery-skipped", "-m", "drill and not network_failure and not "
                                     "backup_testing", "-k", "not others_keep_serving and not hangs"),
        "backup-corrupted": _mutated(base, "backup-corrupted", "-m", "backup_testing"),
    }  # fmt: skip


def test_a_fault_that_does_nothing_leaves_every_drill_unknown(mutated: dict[str, dict[str, dict[str, object]]]) -> None:
    verdicts = {nodeid: scenario["verdict"] for nodeid, scenario in mutated["fault-disabled"].items()
                if scenario["verdict"] != "unsupported"}  # fmt: skip
    assert len(verdicts) == 16
    assert set(verdicts.values()) == {"unknown"}, verdicts


def test_a_release_without_its_defect_is_not_observed(mutated: dict[str, dict[str, dict[str, object]]]) -> None:
    scenarios = mutated["defect-removed"].values()
    assert len(scenarios) == 2
    for scenario in scenarios:
        assert scenario["verdict"] == "unknown"
        assert any("the defect was not seen on the new release" in note for note in scenario["notes"])  # type: ignore[attr-defined]


def test_a_skipped_recovery_fails_the_drill(mutated: dict[str, dict[str, dict[str, object]]]) -> None:
    verdicts = {nodeid: scenario["verdict"] for nodeid, scenario in mutated["recovery-skipped"].items()}
    assert len(verdicts) == 10
    assert set(verdicts.values()) == {"failed"}, verdicts


def test_a_corrupted_backup_fails_the_backup_drill(mutated: dict[str, dict[str, dict[str, object]]]) -> None:
    [scenario] = mutated["backup-corrupted"].values()
    assert scenario["verdict"] == "failed"


def test_every_drill_has_a_mutant_that_cannot_pass(mutated: dict[str, dict[str, dict[str, object]]]) -> None:
    """Every drill the sandbox can run; one it cannot is reported unsupported, never passed."""
    verdicts = [(nodeid, scenario["verdict"]) for runs in mutated.values() for nodeid, scenario in runs.items()]
    covered = {nodeid for nodeid, verdict in verdicts if verdict in ("failed", "unknown")}
    unsupported = {nodeid for nodeid, verdict in verdicts if verdict == "unsupported"}
    assert _drills() - unsupported <= covered
    assert "passed" not in {verdict for _, verdict in verdicts}
