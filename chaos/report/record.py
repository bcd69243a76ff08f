"""One scenario's drill record: its timeline, measurements, verdicts and evidence."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chaos.measure.timeline import Timeline
from chaos.measure.verdict import Verdict, worst
from chaos.report.checklist import checklists

if TYPE_CHECKING:
    from pathlib import Path

    from chaos.measure.availability import AvailabilityMeasurement
    from chaos.measure.data_loss import DataLossMeasurement
    from chaos.measure.rto import OutageWindow, RtoMeasurement

__all__ = ["DrillRecord", "Judgement", "RecoveryStep"]

# Timeline events every report carries, in this order, when they were observed.
KEY_EVENTS = ("fault_injected", "first_failed_probe", "recovery_started", "recovery_finished", "stable")


@dataclass(frozen=True)
class RecoveryStep:
    name: str
    started_at: float
    duration_s: float
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class Judgement:
    """A check other than RTO and RPO: a latency budget, availability, integrity, a test restore."""

    name: str
    verdict: Verdict
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "verdict": self.verdict.value, "reason": self.reason}


@dataclass
class DrillRecord:
    name: str
    feature: str
    tags: list[str]
    target: str
    budget_profile: str
    budget_file: str
    evidence_dir: Path
    nodeid: str = ""  # the pytest node id, for selecting the scenario again
    timeline: Timeline = field(default_factory=Timeline)
    rto: RtoMeasurement | None = None
    rpo: dict[str, DataLossMeasurement] = field(default_factory=dict)
    outages: list[OutageWindow] = field(default_factory=list)
    judgements: list[Judgement] = field(default_factory=list)
    availability: dict[str, AvailabilityMeasurement] = field(default_factory=dict)  # what was judged -> result
    probes: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # replica -> phase -> figures
    probes_skipped: dict[str, int] = field(default_factory=dict)  # stream -> ticks with every probe in flight
    recovery_steps: list[RecoveryStep] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    backups: list[Path] = field(default_factory=list)  # in the backup store; the evidence holds their records
    notes: list[str] = field(default_factory=list)
    load: dict[str, Any] = field(default_factory=dict)  # what simulated users saw (chaos.measure.load)
    communication: dict[str, Any] = field(default_factory=dict)  # the communication plan, timed
    outcome: str = "not run"  # the pytest outcome, set at teardown

    @property
    def verdict(self) -> Verdict:
        """Worst of every measurement; what was not measured makes it ``unknown``.

        A failed recovery step fails the drill. A scenario that broke off for
        another reason (a fault that did not land, an error in the framework)
        is ``unknown``: it neither proves nor disproves the plan.
        """
        verdicts = [measurement.verdict for measurement in self.rpo.values()]
        verdicts += [judgement.verdict for judgement in self.judgements]
        verdicts += [measurement.verdict for measurement in self.availability.values()]
        if self.rto is not None:
            verdicts.append(self.rto.verdict)
        if not verdicts:
            verdicts.append(Verdict.UNKNOWN)  # nothing was measured: nothing is proven
        if any(not step.ok for step in self.recovery_steps):
            verdicts.append(Verdict.FAILED)
        if self.outcome != "passed":
            verdicts.append(Verdict.UNKNOWN)
        return worst(verdicts)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "nodeid": self.nodeid,
            "feature": self.feature,
            "tags": sorted(self.tags),
            "target": self.target,
            "evidence_dir": self.evidence_dir.name,
            "budget_profile": self.budget_profile,
            "budget_file": self.budget_file,
            "verdict": "unsupported" if self.outcome == "unsupported" else self.verdict.value,
            "pytest_outcome": self.outcome,
            "rto": self.rto.to_json() if self.rto else {"measured_s": None, "budget_s": None,
                                                        "verdict": "unknown", "reason": "not measured"},
            "rpo": {name: measurement.to_json() for name, measurement in self.rpo.items()},
            "outages": [window.to_json() for window in self.outages],
            "judgements": [judgement.to_json() for judgement in self.judgements],
            "availability": {name: measurement.to_json() for name, measurement in self.availability.items()},
            "probes": self.probes,
            "probes_skipped": self.probes_skipped,
            "checklists": [item.to_json() for item in checklists(self)],
            "recovery_steps": [
                {"name": step.name, "started_at": step.started_at, "duration_s": round(step.duration_s, 3),
                 "ok": step.ok, "detail": step.detail}
                for step in self.recovery_steps
            ],
            "timeline": [moment.to_json() for moment in self.timeline.moments()],
            "evidence": self.evidence,
            "notes": self.notes,
            "load": self.load,
            "communication": self.communication,
        }  # fmt: skip
