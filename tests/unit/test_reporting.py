"""Reports: secrets masked, regressions flagged against the runs before, evidence re-checked, exit codes."""

from __future__ import annotations

import json
import re
import warnings
from typing import TYPE_CHECKING

import pytest

from chaos.recovery.files import sha256_file
from chaos.report.allure import CATEGORIES
from chaos.report.compliance import COMPLIANCE_FILES, MANIFEST, verify_evidence, write_compliance
from chaos.report.history import regressions, run_entry, verdict_changes
from chaos.report.plot import timeline_png
from chaos.report.record import DrillRecord
from chaos.report.redact import MASK, Redactor
from chaos.runner import Outcomes, exit_code

if TYPE_CHECKING:
    from pathlib import Path


def test_uri_passwords_and_secret_variables_are_masked() -> None:
    redact = Redactor(environ={"DRILL_BACKUP_KEY": "k3y-value-123456", "HOME": "/root", "SHORT_TOKEN": "ab"})
    text = ("redis://:hunter2hunter@127.0.0.1:6379/0 mongodb://app:s3cr3t@db:27017/?x=1 http://127.0.0.1:80/x "
            "key=k3y-value-123456 home=/root token=ab")  # fmt: skip
    masked = redact(text)
    assert "hunter2hunter" not in masked
    assert "s3cr3t" not in masked
    assert "k3y-value-123456" not in masked
    assert f"redis://:{MASK}@127.0.0.1:6379/0" in masked
    assert f"mongodb://app:{MASK}@db:27017" in masked
    assert "http://127.0.0.1:80/x" in masked  # no userinfo: untouched
    assert "home=/root token=ab" in masked  # not secret-named, or too short to mask safely


def _run(run_id: str, rto: float | None, window: float = 0.0, profile: str = "sandbox") -> dict[str, object]:
    scenario = {"name": "db killed", "verdict": "passed", "rto": {"measured_s": rto},
                "rpo": {"user_data": {"window_s": window}}}  # fmt: skip
    return run_entry(run_id, 0.0, profile, [scenario])


def test_an_rto_over_20_percent_above_the_median_of_the_last_4_runs_is_a_regression() -> None:
    earlier = [_run("r1", 9.0), _run("r2", 2.0), _run("r3", 2.2), _run("r4", 1.8), _run("r5", 2.1)]
    [found] = regressions(earlier, _run("r6", 2.6))
    assert (found.figure, found.runs, round(found.median_s, 2)) == ("RTO", 4, 2.05)  # r1 is outside the window
    assert "27% above the median 2.05s of the last 4 runs" in found.line()
    assert regressions(earlier, _run("r6", 2.4)) == []  # within 20 %


def test_no_regression_without_enough_history_below_the_noise_floor_or_across_profiles() -> None:
    assert regressions([_run("r1", 1.0)], _run("r2", 5.0)) == []  # one earlier run is not a trend
    assert regressions([_run("r1", 0.1), _run("r2", 0.1)], _run("r3", 0.3)) == []  # +0.2 s is noise
    production = [_run("r1", 1.0, profile="production"), _run("r2", 1.0, profile="production")]
    assert regressions(production, _run("r3", 5.0)) == []


def test_a_data_loss_window_regresses_too() -> None:
    earlier = [_run("r1", 1.0, 1.0), _run("r2", 1.0, 1.2)]
    [found] = regressions(earlier, _run("r3", 1.0, 3.0))
    assert found.figure == "RPO user_data"


def _verdicts(*verdicts: str) -> list[dict[str, object]]:
    runs = []
    for number, verdict in enumerate(verdicts):
        scenario = {"name": "db killed", "verdict": verdict, "rto": {"measured_s": 1.0}, "rpo": {}}
        runs.append(run_entry(f"r{number}", 0.0, "sandbox", [scenario]))
    return runs


def test_a_verdict_flipping_between_passed_and_unknown_is_flagged_even_when_it_passes() -> None:
    *earlier, current = _verdicts("passed", "unknown", "passed", "unknown", "passed")
    [found] = verdict_changes(earlier, current)
    assert found.verdicts == ("passed", "unknown", "passed", "unknown", "passed")  # 4 runs before and this one
    assert found.line() == "db killed: the verdict flaps, last 5 runs: passed, unknown, passed, unknown, passed"


def test_a_scenario_that_stops_passing_is_flagged_and_a_steady_one_is_not() -> None:
    *earlier, current = _verdicts("passed", "passed", "passed", "unknown")
    [found] = verdict_changes(earlier, current)
    assert "unknown after passing the run before" in found.line()
    *earlier, current = _verdicts("passed", "passed", "passed", "passed")
    assert verdict_changes(earlier, current) == []
    *earlier, current = _verdicts("failed", "failed", "passed")  # one change, for the better
    assert verdict_changes(earlier, current) == []
    *earlier, current = _verdicts("passed", "unsupported", "unsupported", "passed")  # not run is not a change
    assert verdict_changes(earlier, current) == []


def _compliance(run_dir: Path, caveat: str = "") -> str:
    (run_dir / "scenario").mkdir(parents=True)
    (run_dir / "scenario" / "ack-log.jsonl").write_text('{"id": 1}\n')
    (run_dir / "drill-report.json").write_text("{}")
    summary = {"scenarios": [{"name": "s", "feature": "f", "tags": ["drill"], "verdict": "failed",
                              "evidence_dir": "scenario",
                              "rto": {"measured_s": 1.0, "resolution_s": 0.05, "budget_s": 30, "verdict": "failed"},
                              "rpo": {}, "judgements": [], "checklists": []}]}  # fmt: skip
    return write_compliance(run_dir, run_id="r1", started_at=0.0, environment={"target": "sandbox"},
                            summary=summary, trends={"runs": 1, "regressions": []}, pictures={},
                            caveat=caveat)  # fmt: skip


def test_the_compliance_report_says_first_what_its_verdicts_judge(tmp_path: Path) -> None:
    caveat = "judged against the budget profile 'sandbox', NOT the plan's objectives: SANDBOX ONLY"
    _compliance(tmp_path / "sandbox", caveat)
    document = json.loads((tmp_path / "sandbox" / "compliance.json").read_text())
    assert document["budgets"] == {"profile": "", "plan_objectives": False, "caveat": caveat}
    page = (tmp_path / "sandbox" / "compliance.html").read_text()
    assert page.index("NOT the plan&#x27;s objectives") < page.index("<h2>Environment</h2>")
    _compliance(tmp_path / "production")
    assert json.loads((tmp_path / "production" / "compliance.json").read_text())["budgets"]["plan_objectives"]
    assert "NOT the plan" not in (tmp_path / "production" / "compliance.html").read_text()


def test_evidence_verifies_until_a_file_is_changed_removed_or_added(tmp_path: Path) -> None:
    printed = _compliance(tmp_path)
    pinned = {item["path"] for item in json.loads((tmp_path / MANIFEST).read_text())["files"]}
    assert pinned == {"scenario/ack-log.jsonl", "drill-report.json", *COMPLIANCE_FILES}
    assert verify_evidence(tmp_path, printed).ok
    (tmp_path / "scenario" / "ack-log.jsonl").write_text('{"id": 2}\n')
    (tmp_path / "extra.txt").write_text("x")
    (tmp_path / "drill-report.json").unlink()
    problems = verify_evidence(tmp_path).problems
    assert any("ack-log.jsonl: SHA-256" in problem for problem in problems)
    assert any("drill-report.json: missing" in problem for problem in problems)
    assert any("extra.txt: not in the evidence list" in problem for problem in problems)


@pytest.mark.parametrize("report", COMPLIANCE_FILES)
def test_a_failed_drill_edited_to_passed_in_the_report_an_auditor_reads_is_caught(tmp_path: Path, report: str) -> None:
    printed = _compliance(tmp_path)
    path = tmp_path / report
    edited = path.read_text().replace("failed", "passed")
    assert edited != path.read_text()
    path.write_text(edited)
    [problem] = verify_evidence(tmp_path, printed).problems
    assert f"{report}: SHA-256" in problem


def test_a_manifest_rewritten_to_match_an_edit_is_caught_by_the_printed_sha256(tmp_path: Path) -> None:
    printed = _compliance(tmp_path)
    report = tmp_path / "compliance.json"
    report.write_text(report.read_text().replace('"verdict": "failed"', '"verdict": "passed"'))
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    for item in manifest["files"]:
        if item["path"] == "compliance.json":
            item["sha256"], item["size"] = sha256_file(report), report.stat().st_size
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    assert verify_evidence(tmp_path).ok  # consistent with itself: only a copy kept elsewhere can tell
    [problem] = verify_evidence(tmp_path, printed).problems
    assert f"not the {printed} given" in problem


def test_a_report_left_out_of_the_manifest_is_named(tmp_path: Path) -> None:
    _compliance(tmp_path)
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    manifest["files"] = [item for item in manifest["files"] if item["path"] != "compliance.html"]
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    problems = verify_evidence(tmp_path).problems
    assert any("compliance.html: not in the evidence manifest: the report is not pinned" in p for p in problems)


@pytest.mark.parametrize(("status", "kinds", "expected"), [
    (0, {}, 0),
    (1, {"failed": 1}, 1),
    (1, {"inconclusive": 1}, 1),
    (1, {"infrastructure": 1}, 3),
    (1, {"infrastructure": 1, "failed": 1}, 1),
    (2, {}, 3),  # interrupted: the run did not finish
    (4, {}, 2),
    (5, {}, 2),  # the selection matched nothing
    (0, {"unsupported": 2}, 4),  # nothing drilled: never green
    (0, {"unsupported": 2, "passed": 1}, 0),
    (1, {"unsupported": 2, "failed": 1}, 1),
])  # fmt: skip
def test_exit_codes_for_the_weekly_job(status: int, kinds: dict[str, int], expected: int) -> None:
    outcomes = Outcomes()
    for kind, count in kinds.items():
        getattr(outcomes, kind).extend(["x"] * count)
    assert exit_code(status, outcomes) == expected


@pytest.mark.parametrize(("status", "message", "expected"), [
    ("failed", "AssertionError: recovered in 2.91s (budget 0.001s)", "Budget breached"),
    ("failed", "AssertionError: user_data: 110 of 243 acknowledged writes lost, window 2.18s (budget 0.001s)",
     "Budget breached"),
    ("failed", "Failed: inconclusive (verdict unknown): fault did not land: pids [1] still alive (budget 30s)",
     "Fault did not land"),
    ("broken", "chaos.errors.StartupError: redis exited with code 1 during start-up", "Infrastructure error"),
    ("broken", "chaos.errors.ToolNotFoundError: redis-server not found (looked at $CHAOS_REDIS_SERVER, ...)",
     "Infrastructure error"),
    ("failed", "chaos.errors.BackupVerificationError: refusing to recover from an unverified backup",
     "Recovery procedure failed"),
    ("broken", "KeyboardInterrupt", "Aborted"),
])  # fmt: skip
def test_failures_fall_into_the_intended_allure_category(status: str, message: str, expected: str) -> None:
    matching = [category["name"] for category in CATEGORIES if status in category["matchedStatuses"]
                and re.fullmatch(category["messageRegex"], message)]  # fmt: skip
    assert matching[:1] == [expected]


def test_a_drill_that_failed_before_its_fault_still_gets_a_timeline_without_a_legend_warning(tmp_path: Path) -> None:
    record = DrillRecord("failed early", "f", [], "sandbox", "sandbox", "budgets.yaml", tmp_path)
    samples = [{"target": "http://a", "check": "health", "mono": 100 + n * 0.05, "ok": n % 7 != 0} for n in range(40)]
    (tmp_path / "probe-timeline.jsonl").write_text("".join(json.dumps(sample) + "\n" for sample in samples))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns on a legend with nothing in it
        drawn = timeline_png(record, tmp_path / "timeline.png")
    assert drawn is not None
    assert drawn.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
