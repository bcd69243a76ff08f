"""Appendix A checklists are ticked only by recorded evidence."""

from __future__ import annotations

from pathlib import Path

from chaos.measure.rto import RtoMeasurement
from chaos.measure.verdict import Verdict
from chaos.report.checklist import checklists
from chaos.report.record import DrillRecord, Judgement, RecoveryStep


def record() -> DrillRecord:
    return DrillRecord("s", "f", ["drill"], "local", "sandbox", "budgets.yaml", Path("/tmp/evidence"))


def test_a_restore_drill_ticks_both_checklists_from_its_steps() -> None:
    drill = record()
    drill.recovery_steps += [RecoveryStep(name, 0.0, 0.1, True) for name in (
        "scale app to 0", "start MongoDB on an empty data directory if it is down", "restore MongoDB from backup",
        "verify data integrity", "scale app to 3")]  # fmt: skip
    drill.rto = RtoMeasurement(
        "database", 0.0, 0.1, 2.0, 2.0, 2.2, 2.0, 0.05, 60.0, Verdict.PASSED, "recovered in 2.00s"
    )
    items = {(item.checklist, item.item): item for item in checklists(drill)}
    assert all(item.ticked for item in items.values())
    assert "restore MongoDB from backup" in items[("Data Recovery Checklist", "Restore data")].evidence
    assert "recovered in 2.00s" in items[("System Recovery Checklist", "Verify functionality")].evidence
    assert "'scale app to 3'" in items[("System Recovery Checklist", "Deploy application")].evidence


def test_a_failed_step_or_a_missed_rto_leaves_items_open() -> None:
    drill = record()
    drill.recovery_steps += [RecoveryStep("scale app to 0", 0.0, 0.1, True),
                             RecoveryStep("restore MongoDB from backup", 0.0, 0.1, False, "BackupError")]  # fmt: skip
    drill.rto = RtoMeasurement("database", 0.0, 0.1, None, None, None, None, None, 60.0, Verdict.FAILED, "not back")
    items = {(item.checklist, item.item): item for item in checklists(drill)}
    assert not items[("System Recovery Checklist", "Deploy application")].ticked  # scaled down, never back up
    assert not items[("Data Recovery Checklist", "Restore data")].ticked
    assert not items[("System Recovery Checklist", "Verify functionality")].ticked
    assert items[("Data Recovery Checklist", "Verify data integrity")].evidence == "no evidence in this drill"


def test_backup_testing_ticks_the_data_checklist_from_its_judgements() -> None:
    drill = record()
    drill.judgements += [Judgement("backups verified", Verdict.PASSED, "mongodb: backup verified"),
                         Judgement("MongoDB test restore", Verdict.PASSED, "events: 10 identical")]  # fmt: skip
    items = checklists(drill)
    assert {item.checklist for item in items} == {"Data Recovery Checklist"}
    assert all(item.ticked for item in items)


def test_starting_what_is_down_restores_no_database() -> None:
    drill = record()
    drill.recovery_steps += [RecoveryStep("restore infrastructure: start what is down", 0.0, 0.1, True)]
    items = {(item.checklist, item.item): item for item in checklists(drill)}
    assert not items[("System Recovery Checklist", "Restore databases")].ticked
    assert not items[("Data Recovery Checklist", "Restore data")].ticked
    drill.recovery_steps += [RecoveryStep("restore MongoDB", 0.2, 0.3, True)]
    items = {(item.checklist, item.item): item for item in checklists(drill)}
    assert "'restore MongoDB'" in items[("System Recovery Checklist", "Restore databases")].evidence
    assert "'restore MongoDB'" in items[("Data Recovery Checklist", "Restore data")].evidence


def test_redis_replaying_its_own_data_restores_a_database() -> None:
    drill = record()
    drill.recovery_steps += [RecoveryStep("start Redis on its own data", 0.0, 0.1, True)]
    items = {(item.checklist, item.item): item for item in checklists(drill)}
    assert items[("System Recovery Checklist", "Restore databases")].ticked
