"""`drill run` maps what happened to the exit codes a scheduled job acts on, on real runs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from chaos.plan.model import load_plan
from chaos.pytest_plugin import VALUE_OPTIONS
from chaos.report.environment import DEFAULT_PLAN

ROOT = Path(__file__).resolve().parents[2]


def drill_run(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaos.cli", "run", *args, f"--workdir={tmp_path / 'runs'}",
         f"--ledger-dir={tmp_path / 'ledger'}", f"--drill-report-dir={tmp_path / 'report'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=os.environ | (env or {}),
    )  # fmt: skip


def test_a_breached_budget_fails_the_drill_exits_1_and_the_evidence_verifies(tmp_path: Path) -> None:
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("profiles:\n  impossible:\n    description: budgets no recovery can meet\n"
                       "    rto: {database: 1ms}\n    rpo: {user_data: 1ms, calendar_events: 1ms, "
                       "system_configuration: 1ms}\n")  # fmt: skip
    result = drill_run(tmp_path, "-m", "database_failure", "-k", "killed_and_restored", f"--budgets={budgets}",
                       "--budget-profile=impossible")  # fmt: skip
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr
    assert "drill run: exit 1: 0 passed, 1 failed" in result.stderr
    assert "FAILED   MongoDB is killed and restored from the latest backup" in result.stdout
    # The drill is failed by its RTO, measured against the budget and both stated, with the figures that show why.
    [scenario] = json.loads((tmp_path / "report" / "drill-report.json").read_text())["scenarios"]
    assert (scenario["verdict"], scenario["budget_profile"], scenario["rto"]["verdict"]) == (
        "failed", "impossible", "failed")  # fmt: skip
    assert "0.001s" in scenario["rto"]["reason"], scenario["rto"]["reason"]
    assert "s after the fault" in scenario["rto"]["reason"] or "recovered in" in scenario["rto"]["reason"]
    events = [moment["event"] for moment in scenario["timeline"]]
    assert events.index("fault_injected") < events.index("recovery_started") < events.index("recovery_finished")
    assert list((tmp_path / "runs").iterdir()) == []  # the failing drill's sandbox was torn down
    [printed] = re.findall(r"evidence manifest SHA-256 ([0-9a-f]{64})", result.stdout)
    evidence_verify = [sys.executable, "-m", "chaos.cli", "evidence", "verify", str(tmp_path / "report")]
    verify = subprocess.run([*evidence_verify, f"--manifest-sha256={printed}"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert verify.returncode == 0, verify.stdout
    assert verify.stdout.startswith("ok: ")
    # The compliance report accounts for every part of the plan; the breached drill's parts show its verdict.
    coverage = json.loads((tmp_path / "report" / "compliance.json").read_text())["coverage"]
    rows = {row["part"]: row for row in coverage["parts"]}
    assert set(rows) == set(load_plan(DEFAULT_PLAN).ids())
    assert (rows["scenario/database-failure"]["status"], rows["scenario/database-failure"]["verdict"]) == (
        "drilled", "failed")  # fmt: skip
    # Whether the replicas were back (late) or not yet when the step judged depends on how long the restore
    # took: the figure says which, from the same measurement the drill report holds.
    rto = scenario["rto"]
    expected = ("RTO database: not back within 0.001s" if rto["measured_s"] is None
                else f"RTO database {rto['measured_s']:.2f}s of 0.001s")  # fmt: skip
    assert rows["rto/database"]["scenarios"][0]["figure"] == expected
    assert rows["rpo/logs"]["status"] == "untested"
    assert rows["scenario/network-failure"]["status"] == "not drilled"
    assert "Plan coverage" in (tmp_path / "report" / "compliance.html").read_text()
    report = tmp_path / "report" / "compliance.json"  # the failed verdict an auditor reads is pinned with the rest
    report.write_text(report.read_text().replace('"verdict": "failed"', '"verdict": "passed"'))
    verify = subprocess.run([*evidence_verify, f"--manifest-sha256={printed}"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert verify.returncode == 1
    assert "compliance.json: SHA-256" in verify.stdout, verify.stdout


def test_a_missing_server_binary_is_an_infrastructure_error_exit_3(tmp_path: Path) -> None:
    result = drill_run(tmp_path, "-m", "backup_testing", env={"CHAOS_REDIS_SERVER": str(tmp_path / "no-redis")})
    assert result.returncode == 3, result.stdout[-2000:] + result.stderr
    assert "infrastructure: features/test_drills.py::" in result.stderr
    assert "ToolNotFoundError" in result.stderr


def test_a_selection_matching_nothing_or_a_bad_option_is_a_usage_error_exit_2(tmp_path: Path) -> None:
    assert drill_run(tmp_path, "-m", "no_such_disaster").returncode == 2
    assert drill_run(tmp_path, "--budget-profile=nonexistent").returncode == 2


def test_options_given_as_two_words_with_a_path_outside_the_checkout_are_understood(tmp_path: Path) -> None:
    """`--budgets /etc/.../budgets.yaml` (space-separated, outside the repository) is the budgets file, not a
    test path: the project's options load whatever the arguments, from any directory."""
    budgets = tmp_path / "secrets-mount" / "budgets.yaml"
    budgets.parent.mkdir()
    budgets.write_bytes((ROOT / "config" / "budgets.yaml").read_bytes())
    result = subprocess.run(
        [sys.executable, "-m", "chaos.cli", "run", "-m", "database_failure", "--budgets", str(budgets),
         "--budget-profile", "production", "--dry-run"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    assert f"budgets: profile 'production' from {budgets}" in result.stdout


@pytest.mark.parametrize("command", [["-m", "pytest"], ["-m", "pytest", "-p", "no:chaos.pytest_plugin"]])
def test_pytest_itself_understands_the_options_given_as_two_words(tmp_path: Path, command: list[str]) -> None:
    """`pytest -m database_failure --budgets /abs/budgets.yaml`, as users type it: pytest took the file for a
    test path and rooted itself outside the project (\"unrecognized arguments: --budgets\"); the plugin that
    declares the options (an installed pytest11 entry point, loaded by the conftest too) makes it the budgets
    file. The second run blocks the entry point: the conftest alone cannot, and says so."""
    budgets = tmp_path / "secrets-mount" / "budgets.yaml"
    budgets.parent.mkdir()
    budgets.write_bytes((ROOT / "config" / "budgets.yaml").read_bytes())
    result = subprocess.run(
        [sys.executable, *command, "-m", "database_failure", "--budgets", str(budgets), "--budget-profile",
         "production", "--dry-run"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if "no:chaos.pytest_plugin" in command:
        assert result.returncode != 0
        assert "--budgets" in result.stderr
        return
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    assert f"rootdir: {ROOT}" in result.stdout
    assert f"budgets: profile 'production' from {budgets}" in result.stdout


def test_drill_run_help_leads_with_the_drill_options() -> None:
    result = subprocess.run([sys.executable, "-m", "chaos.cli", "run", "--help"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    head = result.stdout[:3000]
    assert result.stdout.startswith("usage: drill run")
    for name in ("--target", "--budgets", "--budget-profile", "--dry-run", "--probe-interval"):
        assert name in head, name
    assert "exit codes" in head.lower()
    assert result.stdout.index("--budget-profile") < result.stdout.index("general:")  # pytest's own come after


def test_every_option_that_takes_a_value_is_joined_to_it() -> None:
    """The runner's list of value options is the drill group's, as `pytest --help` shows it."""
    shown = subprocess.run([sys.executable, "-m", "pytest", "--help"], cwd=ROOT, capture_output=True, text=True,
                           timeout=60).stdout  # fmt: skip
    group = shown.split("disaster-recovery drills:", 1)[1].split("\n\n", 1)[0]
    taking_values = set(re.findall(r"^  (--[a-z-]+)=", group, re.MULTILINE))
    assert taking_values
    assert taking_values <= set(VALUE_OPTIONS)


def test_a_drill_the_target_cannot_run_is_reported_unsupported_never_passed(tmp_path: Path) -> None:
    """Taking a container off its network needs Docker: on the sandbox the drill is unsupported, nothing starts."""
    result = drill_run(tmp_path, "-m", "network_failure", "-k", "taken_off")
    assert result.returncode == 4, result.stdout[-2000:] + result.stderr  # nothing drilled: not a pass
    assert "every selected drill (2) is unsupported on this target: nothing was drilled" in result.stderr
    assert "UNSUPPORTED The MongoDB server is taken off its network, then put back" in result.stdout
    assert "needs take a component off its network and put it back, without a proxy" in result.stdout
    scenarios = json.loads((tmp_path / "report" / "drill-report.json").read_text())["scenarios"]
    assert {scenario["verdict"] for scenario in scenarios} == {"unsupported"}
    assert len(scenarios) == 2
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
