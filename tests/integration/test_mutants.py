"""Every drill, with its fault or its recovery taken away, must not pass (issue 10).

Each mutant (tests/drill_cases/mutants.py) runs real drills on a real sandbox in
a pytest process of its own; the run's drill-report.json says how each scenario
was judged. Each runs on a representative selection: with its fault disabled,
one drill for every kind of fault the sandbox's drills inject (every step that
injects one); with its recovery skipped, one for every recovery procedure they
run; the tests below check that the selections still cover every such step of
the weekly set, as its dry run lists them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fixtures.dry_run import plan_step

ROOT = Path(__file__).resolve().parents[2]
# Short budgets: a drill whose recovery never comes is judged as soon as they run out.
BUDGETS = """profiles:
  mutants:
    description: short, so that a drill whose recovery never comes ends quickly
    rto: {application: 8s, database: 8s, monitoring: 15s}
    rpo: {user_data: 15s, calendar_events: 15s, system_configuration: 1m, sessions: 15s}
"""


def _mutated(tmp_path: Path, mutant: str, *select: str) -> dict[str, dict[str, object]]:
    """Run the selected drills under ``mutant``; their report entries by pytest node id."""
    home = tmp_path / mutant  # each its own sandboxes, ledger and report: they run side by side
    budgets = home / "budgets.yaml"
    home.mkdir()
    budgets.write_text(BUDGETS)
    report_dir = home / "report"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.drill_cases.mutants", "-p", "no:cacheprovider", *select,
         f"--budgets={budgets}", "--budget-profile=mutants", f"--workdir={home / 'runs'}",
         f"--ledger-dir={home / 'ledger'}", f"--drill-report-dir={report_dir}", "-q"],
        cwd=ROOT, capture_output=True, text=True, timeout=1500, env={**os.environ, "CHAOS_MUTANT": mutant},
    )  # fmt: skip
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    scenarios = json.loads((report_dir / "drill-report.json").read_text())["scenarios"]
    assert not list((home / "runs").iterdir()), "a mutated drill left its sandbox behind"
    return {scenario["nodeid"]: scenario for scenario in scenarios}


# One drill per step that injects a fault, and one per recovery procedure (see the coverage tests below).
FAULT_KINDS = ("killed_and_restored or data_files or hangs or (keep_serving and SIGKILL) or rebuilt or "
               "(cut_then_healed and MongoDB) or slow_link or garbled or (bad_release and returns)")  # fmt: skip
RECOVERIES = "killed_and_restored or scheduled or rebuilt or (persistence and aof) or (bad_release and returns)"


@pytest.fixture(scope="module")
def mutated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, dict[str, object]]]:
    base = tmp_path_factory.mktemp("mutants")
    runs = {
        "fault-disabled": ("-m", "drill", "-k", FAULT_KINDS),
        "recovery-skipped": ("-m", "drill", "-k", RECOVERIES),
        "defect-removed": ("-m", "drill", "-k", "bad_release"),
        "backup-corrupted": ("-m", "backup_testing"),
        "crowd-silent": ("-m", "drill", "-k", "keep_serving and SIGKILL"),
        "backup-incomplete": ("-m", "backup_testing"),
        "restore-wipes": ("-m", "drill", "-k", "rebuilt"),
        "schedule-broken": ("-m", "drill", "-k", "scheduled"),
        "toxic-off-path": ("-m", "drill", "-k", "slow_link"),
    }  # longest first
    # Two at a time: a mutated drill spends most of its time waiting out a budget, not on the cores.
    with ThreadPoolExecutor(2, thread_name_prefix="mutant") as pool:
        futures = {mutant: pool.submit(_mutated, base, mutant, *select) for mutant, select in runs.items()}
        return {mutant: future.result() for mutant, future in futures.items()}


def test_a_fault_that_does_nothing_leaves_every_drill_unknown(mutated: dict[str, dict[str, dict[str, object]]]) -> None:
    verdicts = {nodeid: scenario["verdict"] for nodeid, scenario in mutated["fault-disabled"].items()
                if scenario["verdict"] != "unsupported"}  # fmt: skip
    assert len(verdicts) == 9
    assert set(verdicts.values()) == {"unknown"}, verdicts


def test_a_release_without_its_defect_is_not_observed(mutated: dict[str, dict[str, dict[str, object]]]) -> None:
    scenarios = mutated["defect-removed"].values()
    assert len(scenarios) == 2
    for scenario in scenarios:
        assert scenario["verdict"] == "unknown"
        assert any("the defect was not seen on the new release" in note for note in scenario["notes"])  # type: ignore[attr-defined]


def test_a_skipped_recovery_fails_the_drill(mutated: dict[str, dict[str, dict[str, object]]]) -> None:
    verdicts = {nodeid: scenario["verdict"] for nodeid, scenario in mutated["recovery-skipped"].items()}
    assert len(verdicts) == 5
    assert set(verdicts.values()) == {"failed"}, verdicts


def test_a_corrupted_backup_fails_the_backup_drill(mutated: dict[str, dict[str, dict[str, object]]]) -> None:
    [scenario] = mutated["backup-corrupted"].values()
    assert scenario["verdict"] == "failed"


def _weekly_plan() -> dict[str, list[tuple[str, str]]]:
    """The weekly set's dry run: each scenario the sandbox runs ("feature: name") -> its (step, plan) lines."""
    command = [sys.executable, "-m", "chaos.cli", "run", "-m", "drill", "--dry-run", "-q"]
    listed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=True).stdout
    scenarios: dict[str, list[tuple[str, str]]] = {}
    for block in listed.split("\n\n"):
        lines = block.strip("\n").splitlines()
        if not lines or "  [@" not in lines[0] or any(line.startswith("  NOT RUN:") for line in lines):
            continue
        keywords = ("  Given ", "  When ", "  Then ", "  And ")
        steps = [line.split(" ", 3)[3] for line in lines if line.startswith(keywords)]
        plans = [line.strip().removeprefix("-> ") for line in lines if line.startswith("      -> ")]
        scenarios[lines[0].split("  [@")[0]] = list(zip(steps, plans, strict=True))
    return scenarios


def _definitions(scenarios: list[list[tuple[str, str]]], prefix: str) -> dict[int, str]:
    """The step definitions whose plan starts with ``prefix`` (FAULT, RECOVERY) in ``scenarios``, with a line."""
    found = {}
    for steps in scenarios:
        for text, plan in steps:
            definition = plan_step(text)
            if plan.startswith(prefix) and definition is not None:
                found[id(definition)] = text
    return found


@pytest.mark.parametrize(("mutant", "prefix"), [("fault-disabled", "FAULT "), ("recovery-skipped", "RECOVERY ")])
def test_each_mutant_meets_every_kind_of_fault_or_recovery_of_the_weekly_set(
    mutated: dict[str, dict[str, dict[str, object]]], mutant: str, prefix: str
) -> None:
    weekly = _weekly_plan()
    ran = [weekly[f"{scenario['feature']}: {scenario['name']}"] for scenario in mutated[mutant].values()]
    every, met = _definitions(list(weekly.values()), prefix), _definitions(ran, prefix)
    assert len(weekly) == 17
    assert len(every) >= 5  # the dry run's steps were read, and matched their definitions
    assert not every.keys() - met.keys(), f"{mutant} meets no drill with: {[every[k] for k in every.keys() - met]}"


@pytest.mark.parametrize(
    ("mutant", "judgement", "says"),
    [("backup-incomplete", "backup holds every acknowledged write", "calendar_events: misses"),
     ("schedule-broken", "every scheduled backup completed", "scheduled backups failed")],
)  # fmt: skip
def test_a_backup_that_misses_acknowledged_writes_fails_its_drill(
    mutated: dict[str, dict[str, dict[str, object]]], mutant: str, judgement: str, says: str
) -> None:
    [scenario] = mutated[mutant].values()
    judged = {j["name"]: j for j in scenario["judgements"]}[judgement]  # type: ignore[attr-defined]
    assert judged["verdict"] == "failed", judged
    assert says in judged["reason"], judged
    assert scenario["verdict"] == "failed"


def test_a_restore_that_wipes_a_class_fails_however_short_its_history(
    mutated: dict[str, dict[str, dict[str, object]]],
) -> None:
    [scenario] = mutated["restore-wipes"].values()
    settings = scenario["rpo"]["system_configuration"]  # type: ignore[index]
    assert settings["verdict"] == "failed", settings
    assert settings["window_s"] < 60  # within the budget: only what the backup held tells
    assert scenario["verdict"] == "failed"


def test_a_toxic_off_the_apps_path_is_not_observed(mutated: dict[str, dict[str, dict[str, object]]]) -> None:
    [scenario] = mutated["toxic-off-path"].values()
    assert scenario["verdict"] == "unknown"
    assert any("the writers' writes were not slowed" in note for note in scenario["notes"])  # type: ignore[attr-defined]


def test_users_who_fell_silent_leave_their_view_unknown(mutated: dict[str, dict[str, dict[str, object]]]) -> None:
    [scenario] = mutated["crowd-silent"].values()
    judgements = {judgement["name"]: judgement for judgement in scenario["judgements"]}  # type: ignore[attr-defined]
    judged = judgements["users' error rate during recovery <= 5%"]
    assert judged["verdict"] == "unknown", judged
    assert "fell silent" in judged["reason"], judged
    assert scenario["verdict"] == "unknown"


def test_no_mutant_passes(mutated: dict[str, dict[str, dict[str, object]]]) -> None:
    assert {scenario["verdict"] for runs in mutated.values() for scenario in runs.values()} <= {"failed", "unknown"}
