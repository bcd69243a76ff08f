"""The DR plan's Appendix A recovery checklists, ticked from a drill's evidence.

An item is ticked only by something the drill recorded — a recovery step that
succeeded, a judgement that passed, a confirmed recovery — and names that
evidence; otherwise it stays open with the reason. A checklist applies when
the drill ran the part of the plan it belongs to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chaos.measure.verdict import Verdict

if TYPE_CHECKING:
    from chaos.plan.model import Plan
    from chaos.report.record import DrillRecord

__all__ = ["RULES", "ChecklistItem", "checklist_drift", "checklists"]


@dataclass(frozen=True)
class ChecklistItem:
    checklist: str
    item: str
    ticked: bool
    evidence: str

    def to_json(self) -> dict[str, Any]:
        return {"checklist": self.checklist, "item": self.item, "ticked": self.ticked, "evidence": self.evidence}


def _step(record: DrillRecord, *words: str) -> str | None:
    for step in record.recovery_steps:
        if step.ok and all(word in step.name.lower() for word in words):
            return f"recovery step '{step.name}' succeeded in {step.duration_s:.2f}s"
    return None


# The steps that bring a data store's data back: a restore from its backup, or Redis replaying its own
# persistence. "restore infrastructure: start what is down" starts servers; it restores no data.
DATABASE_RESTORES = ("restore mongodb", "restore redis", "start redis on its own data")


def _database_restored(record: DrillRecord) -> str | None:
    for step in record.recovery_steps:
        if step.ok and step.name.lower().startswith(DATABASE_RESTORES):
            return f"recovery step '{step.name}' succeeded in {step.duration_s:.2f}s"
    return None


def _deployed(record: DrillRecord) -> str | None:
    """The app scaled back up by the procedure, or, where nothing scaled it down, seen healthy again."""
    for step in record.recovery_steps:
        if step.ok and step.name.startswith("scale app to ") and not step.name.endswith(" 0"):
            return f"recovery step '{step.name}' succeeded in {step.duration_s:.2f}s"
    return None if _step(record, "scale app to 0") else _recovered(record)


def _judgement(record: DrillRecord, name: str) -> str | None:
    for judgement in record.judgements:
        if judgement.name == name and judgement.verdict is Verdict.PASSED:
            return f"{name}: {judgement.reason}"
    return None


def _recovered(record: DrillRecord) -> str | None:
    rto = record.rto
    if rto is not None and rto.verdict is Verdict.PASSED and rto.measured_s is not None:
        return f"every probe stream healthy again: {rto.reason}"
    return None


def _documented(record: DrillRecord) -> str | None:
    return f"drill record and evidence written to {record.evidence_dir}"


def _backups_verified(record: DrillRecord) -> str | None:
    return (_judgement(record, "backups verified") or _step(record, "verify", "backup")
            or _step(record, "restore", "backup"))  # fmt: skip


def _data_restored(record: DrillRecord) -> str | None:
    return (_database_restored(record) or _step(record, "restore", "backup")
            or _judgement(record, "MongoDB test restore"))  # fmt: skip


def _integrity_verified(record: DrillRecord) -> str | None:
    return _step(record, "verify data integrity") or _judgement(record, "MongoDB test restore")


Rule = Callable[["DrillRecord"], str | None]

# Each checklist of the plan's Appendix A, by its title there, and each of its items, in order, with the
# evidence that ticks it. ``drill verify plan`` checks these titles and items against the plan.
RULES: dict[str, list[tuple[str, Rule]]] = {
    "System Recovery Checklist": [
        ("Verify infrastructure", lambda r: _step(r, "start") or _step(r, "scale app to 0") or _recovered(r)),
        ("Restore databases", _database_restored),
        ("Deploy application", _deployed),
        ("Verify functionality", _recovered),
        ("Update documentation", _documented),
    ],
    "Data Recovery Checklist": [
        ("Verify backups", _backups_verified),
        ("Restore data", _data_restored),
        ("Verify data integrity", _integrity_verified),
        ("Update documentation", _documented),
    ],
}


def _applies(name: str, record: DrillRecord) -> bool:
    if name == "Data Recovery Checklist":
        return any("restore" in step.name.lower() for step in record.recovery_steps) or any(
            judgement.name == "backups verified" for judgement in record.judgements
        )
    return bool(record.recovery_steps) or record.rto is not None


def checklists(record: DrillRecord) -> list[ChecklistItem]:
    """The checklists that apply to this drill, each item ticked by its evidence or left open."""
    items = []
    for name, rules in RULES.items():
        if not _applies(name, record):
            continue
        for item, rule in rules:
            evidence = rule(record)
            items.append(ChecklistItem(name, item, evidence is not None, evidence or "no evidence in this drill"))
    return items


def checklist_drift(plan: Plan) -> list[str]:
    """Where the plan's Appendix A checklists and the rules that tick them disagree, each named."""
    problems = []
    written = {section.title: section for section in plan.of_kind("checklist")}
    for title, section in written.items():
        where = f"{plan.source}:{section.line}: checklist '{title}'"
        rules = RULES.get(title)
        if rules is None:
            problems.append(f"{where} has no rules to tick it from a drill's evidence ({__file__})")
            continue
        ruled = [item for item, _ in rules]
        problems += [f"{where}: item '{item}' has no rule to tick it ({__file__})"
                     for item in section.steps if item not in ruled]  # fmt: skip
        problems += [f"{where}: no item '{item}', which {__file__} ticks"
                     for item in ruled if item not in section.steps]  # fmt: skip
    problems += [f"{__file__} ticks checklist '{title}', which {plan.source} does not have"
                 for title in RULES if title not in written]  # fmt: skip
    return problems
