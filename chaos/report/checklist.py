"""The DR plan's Appendix A recovery checklists, ticked from a drill's evidence.

An item is ticked only by something the drill recorded — a recovery step that
succeeded, a judgement that passed, a confirmed recovery — and names that
evidence; otherwise it stays open with the reason. A checklist applies when
the drill ran the part of the plan it belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chaos.measure.verdict import Verdict

if TYPE_CHECKING:
    from collections.abc import Callable

    from chaos.report.record import DrillRecord

__all__ = ["ChecklistItem", "checklists"]


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


SYSTEM: list[tuple[str, Callable[[DrillRecord], str | None]]] = [
    ("Verify infrastructure", lambda r: _step(r, "start") or _step(r, "scale app to 0") or _recovered(r)),
    ("Restore databases", lambda r: _step(r, "restore") or _step(r, "start redis")),
    ("Deploy application", _deployed),
    ("Verify functionality", _recovered),
    ("Update documentation", _documented),
]
DATA: list[tuple[str, Callable[[DrillRecord], str | None]]] = [
    (
        "Verify backups",
        lambda r: _judgement(r, "backups verified") or _step(r, "verify", "backup") or _step(r, "restore", "backup"),
    ),
    ("Restore data", lambda r: _step(r, "restore") or _judgement(r, "MongoDB test restore")),
    ("Verify data integrity", lambda r: _step(r, "verify data integrity") or _judgement(r, "MongoDB test restore")),
    ("Update documentation", _documented),
]


def checklists(record: DrillRecord) -> list[ChecklistItem]:
    """The checklists that apply to this drill, each item ticked by its evidence or left open."""
    applies = {
        "System Recovery Checklist": bool(record.recovery_steps) or record.rto is not None,
        "Data Recovery Checklist": any("restore" in step.name.lower() for step in record.recovery_steps)
        or any(judgement.name == "backups verified" for judgement in record.judgements),
    }
    items = []
    for name, rules in (("System Recovery Checklist", SYSTEM), ("Data Recovery Checklist", DATA)):
        if not applies[name]:
            continue
        for item, rule in rules:
            evidence = rule(record)
            items.append(ChecklistItem(name, item, evidence is not None, evidence or "no evidence in this drill"))
    return items
