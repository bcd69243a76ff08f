"""The plan, traced: its parts, drift against the budgets, coverage by drills, the matrix and the review.

Every drift is seeded into a copy of the repository's plan, budgets, coverage file or features.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from chaos.cli import main
from chaos.config import DEFAULT_BUDGETS, load_budgets
from chaos.errors import ConfigError
from chaos.plan.coverage import coverage_matrix, scenario_parts
from chaos.plan.model import PlanError, load_plan
from chaos.plan.review import review
from chaos.plan.trace import (
    DEFAULT_COVERAGE,
    budget_drift,
    budgets_caveat,
    check_tags,
    derived_parts,
    load_coverage,
    read_features,
    verify_plan,
)
from chaos.report import checklist
from chaos.report.checklist import checklist_drift
from chaos.report.environment import DEFAULT_PLAN

ROOT = Path(__file__).resolve().parents[2]


def edited(tmp_path: Path, source: Path, old: str, new: str) -> Path:
    text = source.read_text()
    assert old in text, f"{old!r} is not in {source}"
    copy = tmp_path / source.name
    copy.write_text(text.replace(old, new, 1))
    return copy


def line_of(path: Path, text: str) -> int:
    return next(n for n, row in enumerate(path.read_text().splitlines(), start=1) if text in row)


def test_the_plan_reads_into_its_parts() -> None:
    plan = load_plan(DEFAULT_PLAN)
    counts = {kind: len(plan.of_kind(kind)) for kind in ("rto", "rpo", "scenario", "backup", "recovery", "testing",
                                                         "communication", "maintenance", "checklist")}  # fmt: skip
    assert counts == {"rto": 6, "rpo": 6, "scenario": 4, "backup": 4, "recovery": 4, "testing": 4,
                      "communication": 4, "maintenance": 4, "checklist": 2}  # fmt: skip
    database = plan.get("rto/database")
    assert database is not None
    assert (database.value, database.seconds, database.line) == (
        "2 hours",
        7200.0,
        line_of(DEFAULT_PLAN, "Database: 2"),
    )
    scenario = plan.get("scenario/complete-system-failure")
    assert scenario is not None
    assert scenario.steps == ("Assess the situation", "Restore infrastructure", "Restore data", "Deploy application")
    checklist = plan.get("checklist/data-recovery-checklist")
    assert checklist is not None
    assert checklist.steps[0] == "Verify backups"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "## Disaster Scenarios",
            "## Disaster Scenario",
            "'## Disaster Scenario' where '## Disaster Scenarios' was expected",
        ),
        ("## Communication Plan", "## Talking", "no '## Communication Plan' section"),
        ("- Database: 2 hours", "- Database: two hours", "'- Database: two hours': an objective reads"),
        ("- Database: 2 hours", "- Database: 2 fortnights", "an objective reads '- Name: <number>"),
        ("### A. Recovery Checklists", "### A. Checklists", "where '### A. Recovery Checklists' was expected"),
        ("1. MongoDB Backup\n", "MongoDB Backup\n", None),  # not a numbered item: Database Backup keeps Redis
        ("2. Redis Backup\n", "2. MongoDB Backup\n", "has the same id 'backup/mongodb-backup'"),
    ],
)
def test_a_plan_edited_by_hand_is_refused_naming_the_line(
    tmp_path: Path, old: str, new: str, message: str | None
) -> None:
    copy = edited(tmp_path, DEFAULT_PLAN, old, new)
    if message is None:
        assert load_plan(copy).get("backup/mongodb-backup") is None  # a procedure that is gone is gone, not guessed
        return
    with pytest.raises(PlanError) as error:
        load_plan(copy)
    assert message in str(error.value)
    assert str(copy) in str(error.value)
    if "no '##" not in message:
        assert f"{copy}:{line_of(copy, new.strip().splitlines()[0])}" in str(error.value)


def test_an_unclosed_code_block_is_named(tmp_path: Path) -> None:
    copy = tmp_path / "plan.md"
    copy.write_text(DEFAULT_PLAN.read_text() + "\n```bash\nnever closed\n")
    with pytest.raises(PlanError, match=r"plan\.md:\d+: a code block opened here is never closed"):
        load_plan(copy)


def test_the_repository_agrees_with_itself() -> None:
    plan = load_plan(DEFAULT_PLAN)
    problems = verify_plan(plan, load_budgets(DEFAULT_BUDGETS, "production"), load_coverage(DEFAULT_COVERAGE, plan),
                           read_features())  # fmt: skip
    assert problems == []


def test_budgets_that_drift_from_the_plan_are_named(tmp_path: Path) -> None:
    budgets = edited(tmp_path, DEFAULT_BUDGETS, "      database: 2h\n", "      database: 1h\n")
    plan = load_plan(DEFAULT_PLAN)
    (problem,) = budget_drift(plan, load_budgets(budgets, "production"))
    assert problem.startswith(f"Database RTO: plan 2 hours ({DEFAULT_PLAN}:{line_of(DEFAULT_PLAN, 'Database: 2')}), "
                              "budgets 1h")  # fmt: skip
    extra = edited(tmp_path, DEFAULT_BUDGETS, "      user_data: 5m\n", "      user_data: 5m\n      sessions: 1m\n")
    (problem,) = budget_drift(plan, load_budgets(extra, "production"))
    assert problem.startswith("sessions RPO: budgets 1m")
    assert problem.endswith("the plan has no such objective")


def test_a_changed_objective_in_the_plan_is_drift_too(tmp_path: Path) -> None:
    plan = load_plan(edited(tmp_path, DEFAULT_PLAN, "- Calendar Events: 5 minutes", "- Calendar Events: 10 minutes"))
    (problem,) = budget_drift(plan, load_budgets(DEFAULT_BUDGETS, "production"))
    assert problem.startswith("Calendar Events RPO: plan 10 minutes")
    assert "budgets 5m" in problem


def test_a_new_scenario_without_a_drill_is_named_by_its_line(tmp_path: Path) -> None:
    copy = edited(tmp_path, DEFAULT_PLAN, "## Backup Procedures", "### 5. Security Breach\n\nRecovery Steps:\n"
                  "1. Rotate every credential\n\n## Backup Procedures")  # fmt: skip
    plan = load_plan(copy)
    problems = verify_plan(plan, load_budgets(DEFAULT_BUDGETS, "production"), load_coverage(DEFAULT_COVERAGE, plan),
                           read_features())  # fmt: skip
    assert problems == [f"{copy}:{line_of(copy, '### 5. Security Breach')}: scenario 'Security Breach' "
                        f"(scenario/security-breach) has no drill and is not listed as untested, with a reason, in "
                        f"{DEFAULT_COVERAGE}"]  # fmt: skip


def test_the_coverage_file_is_checked_against_the_plan(tmp_path: Path) -> None:
    plan = load_plan(DEFAULT_PLAN)
    typo = edited(tmp_path, DEFAULT_COVERAGE, "  rpo/logs:", "  rpo/log:")
    with pytest.raises(ConfigError, match=r"plan-coverage\.yaml:\d+: 'rpo/log' is not a part of the plan .*did you "
                                          r"mean 'rpo/logs'"):  # fmt: skip
        load_coverage(typo, plan)
    stale = edited(tmp_path, DEFAULT_COVERAGE, "untested:\n",
                   "untested:\n  scenario/network-failure: Left out while the proxies are rebuilt.\n")  # fmt: skip
    problems = verify_plan(plan, load_budgets(DEFAULT_BUDGETS, "production"), load_coverage(stale, plan),
                           read_features())  # fmt: skip
    assert len(problems) == 1
    assert "scenario/network-failure is listed as untested, but" in problems[0]
    unexplained = edited(tmp_path, DEFAULT_COVERAGE, "  rpo/logs: Logs are not shipped", "  rpo/logs: no\n  x: Logs")
    with pytest.raises(ConfigError, match="rpo/logs: give the reason"):
        load_coverage(unexplained, plan)


def test_checklists_that_drift_from_the_rules_ticking_them_are_named(tmp_path: Path) -> None:
    renamed = edited(tmp_path, DEFAULT_PLAN, "- [ ] Verify data integrity", "- [ ] Verify data consistency")
    problems = verify_plan(load_plan(renamed), load_budgets(DEFAULT_BUDGETS, "production"),
                           load_coverage(DEFAULT_COVERAGE, load_plan(renamed)), read_features())  # fmt: skip
    where = f"{renamed}:{line_of(renamed, '2. Data Recovery Checklist')}: checklist 'Data Recovery Checklist'"
    assert problems == [f"{where}: item 'Verify data consistency' has no rule to tick it ({checklist.__file__})",
                        f"{where}: no item 'Verify data integrity', which {checklist.__file__} ticks"]  # fmt: skip
    added = edited(tmp_path, DEFAULT_PLAN, "### B. Useful Scripts",
                   "3. Security Checklist\n- [ ] Rotate credentials\n\n### B. Useful Scripts")  # fmt: skip
    plan = load_plan(added)
    assert checklist_drift(plan) == [f"{added}:{line_of(added, '3. Security Checklist')}: checklist 'Security "
                                     f"Checklist' has no rules to tick it from a drill's evidence "
                                     f"({checklist.__file__})"]  # fmt: skip
    dropped = edited(tmp_path, DEFAULT_PLAN, "2. Data Recovery Checklist", "2. Data Checklist")
    assert f"{checklist.__file__} ticks checklist 'Data Recovery Checklist', which {dropped} does not have" in (
        checklist_drift(load_plan(dropped))
    )


def test_a_tag_naming_no_part_of_the_plan_fails_with_its_file_and_line(tmp_path: Path) -> None:
    features = tmp_path / "features"
    shutil.copytree(ROOT / "features", features)
    feature = features / "network_failure.feature"
    feature.write_text(
        feature.read_text().replace("@plan:scenario/network-failure", "@plan:scenario/netwrk-failure", 1)
    )
    (problem,) = check_tags(read_features(features), load_plan(DEFAULT_PLAN))
    assert problem.startswith(f"{feature}:")
    assert "@plan:scenario/netwrk-failure names no part of the plan" in problem
    assert "did you mean 'scenario/network-failure'" in problem


def test_features_are_read_as_pytest_bdd_reads_them(tmp_path: Path) -> None:
    """A background's steps belong to every scenario after it; a file Gherkin cannot read is named with its line."""
    (tmp_path / "restore.feature").write_text(
        "@drill\nFeature: Restore\n  Background:\n    Given writers track users through the app\n\n"
        "  @plan:scenario/database-failure\n  Scenario: Restored\n"
        "    When every replica answers 5 consecutive probes within the database RTO\n"
        "    Then the acknowledged writes lost are within each data class's RPO\n"
    )  # fmt: skip
    (scenario,) = read_features(tmp_path)
    assert (scenario.line, scenario.name, scenario.plan_tags) == (7, "Restored", ["scenario/database-failure"])
    assert "drill" in scenario.tags
    assert derived_parts(scenario.steps) == {"rto/database", "rpo/user-data"}
    (tmp_path / "restore.feature").write_text("Feature: Broken\n  Scenario: One\n    Given a step\n  Whatever: x\n")
    with pytest.raises(ConfigError, match=r"restore\.feature:4: "):
        read_features(tmp_path)


def test_objectives_follow_from_the_steps() -> None:
    steps = ["writers track users, calendar events and settings through the app",
             "every replica answers 5 consecutive probes within the database RTO",
             "the acknowledged writes lost are within each data class's RPO"]  # fmt: skip
    assert derived_parts(steps) == {"rto/database", "rpo/user-data", "rpo/calendar-events",
                                    "rpo/system-configuration"}  # fmt: skip
    assert derived_parts(steps[:2]) == {"rto/database"}  # tracked, but not judged against an RPO


def test_verify_plan_exits_1_naming_each_drift_and_0_with_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", "plan"]) == 0
    assert capsys.readouterr().out.startswith("ok: ")
    plan = edited(tmp_path, DEFAULT_PLAN, "- Monitoring: 30 minutes", "- Monitoring: 15 minutes")
    assert main(["verify", "plan", "--plan", str(plan)]) == 1
    out = capsys.readouterr().out
    assert f"PROBLEM: Monitoring RTO: plan 15 minutes ({plan}:{line_of(plan, 'Monitoring: 15')}), budgets 30m" in out
    broken = edited(tmp_path, DEFAULT_PLAN, "## Recovery Procedures", "## Recovery")
    assert main(["verify", "plan", "--plan", str(broken)]) == 2
    assert "'## Recovery' where '## Recovery Procedures' was expected" in capsys.readouterr().err


def _scenario(name: str, verdict: str, tags: list[str], rto: float | None = None) -> dict:
    return {"name": name, "verdict": verdict, "tags": tags, "evidence_dir": name.lower().replace(" ", "-"),
            "rto": {"component": "database", "measured_s": rto, "budget_s": 60.0 if rto is not None else None},
            "rpo": {}, "judgements": [], "checklists": []}  # fmt: skip


def test_the_matrix_accounts_for_every_part() -> None:
    plan = load_plan(DEFAULT_PLAN)
    coverage = load_coverage(DEFAULT_COVERAGE, plan)
    scenarios = [_scenario("MongoDB restored", "passed", ["drill", "plan:scenario/database-failure"], rto=4.2),
                 _scenario("Off its network", "unsupported", ["drill", "plan:scenario/network-failure"])]  # fmt: skip
    rows = {row["part"]: row for row in coverage_matrix(plan, coverage, scenarios, target="sandbox",
                                                         notifications=False)}  # fmt: skip
    assert set(rows) == set(plan.ids())
    database = rows["scenario/database-failure"]
    assert (database["status"], database["verdict"]) == ("drilled", "passed")
    assert database["scenarios"][0]["figure"] == "RTO database 4.20s of 60s"
    assert rows["rto/database"]["status"] == "drilled"  # from the RTO it judged
    assert rows["scenario/network-failure"]["reason"] == "its drills are unsupported on sandbox"
    assert rows["rpo/logs"]["status"] == "untested"
    assert rows["communication/team-notification"]["reason"] == "notifications are off for target sandbox"
    assert rows["scenario/application-failure"]["reason"].startswith("no scenario of this run proves it")


def test_a_replica_not_back_when_the_budget_ran_out_is_said_so_not_given_a_figure() -> None:
    plan = load_plan(DEFAULT_PLAN)
    late = _scenario("MongoDB restored", "failed", ["drill", "plan:scenario/database-failure"])
    late["rto"]["budget_s"] = 0.001
    rows = {row["part"]: row for row in coverage_matrix(plan, load_coverage(DEFAULT_COVERAGE, plan), [late],
                                                         target="sandbox", notifications=False)}  # fmt: skip
    assert rows["scenario/database-failure"]["verdict"] == "failed"
    assert rows["scenario/database-failure"]["scenarios"][0]["figure"] == "RTO database: not back within 0.001s"


def test_a_sandbox_run_says_it_judged_the_sandbox_profile_not_the_plan() -> None:
    plan = load_plan(DEFAULT_PLAN)
    assert budgets_caveat(plan, load_budgets(DEFAULT_BUDGETS, "production")) == ""
    caveat = budgets_caveat(plan, load_budgets(DEFAULT_BUDGETS, "sandbox"))
    assert caveat.startswith("judged against the budget profile 'sandbox', NOT the plan's objectives")
    assert "SANDBOX ONLY" in caveat  # the profile's own description
    scenarios = [_scenario("MongoDB restored", "passed", ["drill", "plan:scenario/database-failure"], rto=2.28)]
    coverage = load_coverage(DEFAULT_COVERAGE, plan)

    def matrix(profile: str) -> dict[str, dict]:
        rows = coverage_matrix(plan, coverage, scenarios, target="sandbox", notifications=False,
                               budgets=load_budgets(DEFAULT_BUDGETS, profile))  # fmt: skip
        return {row["part"]: row for row in rows}

    rows = matrix("sandbox")
    assert rows["rto/database"]["verdict"] == "passed"
    assert rows["rto/database"]["judged_against"] == "judged against the sandbox profile's 1m, not the plan's 2 hours"
    production = matrix("production")
    assert "judged_against" not in production["rto/database"]


def test_the_review_shows_each_parts_history_and_what_needs_attention() -> None:
    plan = load_plan(DEFAULT_PLAN)
    coverage = load_coverage(DEFAULT_COVERAGE, plan)

    def run(run_id: str, verdict: str, rto: float) -> dict:
        scenario = _scenario("MongoDB restored", verdict, ["plan:scenario/database-failure"], rto=rto)
        figures = {"verdict": verdict, "rto_s": rto, "rpo_s": {}, "plan": sorted(scenario_parts(scenario)),
                   "rto_budget_s": 60.0, "rpo_budget_s": {}}  # fmt: skip
        return {"run_id": run_id, "at": 1.8e9, "profile": "sandbox", "scenarios": {"MongoDB restored": figures}}

    text = review([run("r1", "passed", 4.0), run("r2", "failed", 75.0), run("r3", "passed", 5.0)], plan, coverage,
                  runs=2)  # fmt: skip
    row = next(line for line in text.splitlines() if "`scenario/database-failure`" in line)
    assert "| 2 of 2 | F P | 75.00s of 60s (MongoDB restored, run r2) |" in row
    assert "- Database Failure (`scenario/database-failure`): 1 failed, 0 unknown of 2" in text
    assert "- Network Failure (`scenario/network-failure`): never drilled in these runs" in text
    assert "`rpo/logs`: Logs are not shipped" in text
    assert "No run is recorded" in review([], plan, coverage, runs=5)
