"""Jepsen-style accounting of tracked writes against what the store holds after recovery.

    lost        acknowledged, missing
    recovered   outcome unknown, present
    unexpected  present under the writer's ids, never attempted
    duplicated  present more than once
    corrupted   present, content differs from what was written
The data-loss window comes from the lost writes themselves. Each lost write
belongs to the first outage that had not ended when it was acknowledged (a
drill has one: from the fault on). Per outage, the window runs from the oldest
lost write's acknowledgement to the newest one's, or to the outage's start if
that is later: a restore from a backup loses everything from the backup to the
fault, and a write acknowledged during the outage and then lost stretches the
window past the fault. Lost writes acknowledged after the last outage ended
form a window of their own. The measurement is the widest window; with a zero
budget, any lost write fails, whatever its window.

A restore from a backup must bring back every write acknowledged before that
backup began (``restored_from``). Such a write lost means the restore lost what
its backup held, and with it, as far as the drill can tell, everything the
class held before the drill's first write: the loss reaches back past anything
the window can measure, so it fails whatever the budget. (Without this, a
class whose drill-long history is shorter than its RPO could lose everything
and pass.)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chaos.measure.verdict import Verdict
from chaos.measure.workload import Outcome

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from chaos.measure.workload import AckRecord

__all__ = ["DataLossMeasurement", "LossWindow", "classify_writes"]

SAMPLE_IDS = 20


@dataclass(frozen=True)
class LossWindow:
    """The lost writes of one outage and how far they reach."""

    outage_start: float | None  # wall seconds; None: lost after the last outage ended
    first_lost: float  # acknowledgement times (wall seconds) of the oldest and newest lost write
    last_lost: float
    lost: int

    @property
    def window_s(self) -> float:
        if self.outage_start is None or self.first_lost > self.outage_start:
            return self.last_lost - self.first_lost
        return max(self.last_lost, self.outage_start) - self.first_lost

    def to_json(self) -> dict[str, Any]:
        return {"outage_start": self.outage_start, "first_lost": self.first_lost, "last_lost": self.last_lost,
                "lost": self.lost, "window_s": round(self.window_s, 3)}  # fmt: skip


def _loss_windows(lost: Sequence[AckRecord], outages: Sequence[tuple[float, float | None]]) -> list[LossWindow]:
    """Group lost writes by outage, each ``(start, end or None)`` in wall seconds."""
    ordered = sorted(outages)
    groups: dict[float | None, list[float]] = {}
    for record in lost:
        owner = next((start for start, end in ordered if end is None or record.done_wall <= end), None)
        groups.setdefault(owner, []).append(record.done_wall)
    return [LossWindow(start, min(times), max(times), len(times)) for start, times in groups.items()]


@dataclass(frozen=True)
class DataLossMeasurement:
    data_class: str
    attempted: int
    acked: int
    lost: int
    recovered: int
    unexpected: int
    duplicated: int
    corrupted: int
    window_s: float
    budget_s: float
    verdict: Verdict
    reason: str
    ids: dict[str, tuple[str, ...]] = field(default_factory=dict)  # category -> ids, for the evidence
    windows: tuple[LossWindow, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "data_class": self.data_class, "attempted": self.attempted, "acked": self.acked,
            "lost": self.lost, "recovered": self.recovered, "unexpected": self.unexpected,
            "duplicated": self.duplicated, "corrupted": self.corrupted, "window_s": round(self.window_s, 3),
            "budget_s": self.budget_s, "verdict": self.verdict.value, "reason": self.reason,
            "samples": {category: list(ids[:SAMPLE_IDS]) for category, ids in self.ids.items() if ids},
            "windows": [window.to_json() for window in self.windows],
        }  # fmt: skip

    @classmethod
    def inconclusive(
        cls, data_class: str, log: Sequence[AckRecord], budget_s: float, reason: str
    ) -> DataLossMeasurement:
        """The accounting could not be done (the final read failed): ``unknown``, never a pass."""
        acked = sum(1 for record in log if record.outcome is Outcome.ACKED)
        return cls(data_class, len(log), acked, 0, 0, 0, 0, 0, 0.0, budget_s, Verdict.UNKNOWN, reason)

    def classification(self) -> dict[str, Any]:
        """Every id per category: the evidence file behind the counts."""
        return {"data_class": self.data_class, **{category: list(ids) for category, ids in self.ids.items()}}


def classify_writes(
    log: Sequence[AckRecord],
    found: Sequence[tuple[str, Mapping[str, Any]]],
    *,
    data_class: str,
    outages: Sequence[tuple[float, float | None]],
    budget_s: float,
    restored_from: float | None = None,
) -> DataLossMeasurement:
    """Classify every write of ``log`` against ``found``: (id, stored fields) pairs read from the store.

    ``outages``: (start, end or None) in wall seconds; a drill passes ``[(fault time, None)]``.
    ``restored_from``: when (wall seconds) the backup the recovery restored this class from began, if any.
    """
    attempted = {record.id: record for record in log}
    present = dict(found)
    copies = Counter(key for key, _ in found)
    acked = [record for record in log if record.outcome is Outcome.ACKED]
    lost = sorted((record for record in acked if record.id not in present), key=lambda r: r.done_wall)
    ids = {
        "lost": tuple(record.id for record in lost),
        "recovered": tuple(r.id for r in log if r.outcome is Outcome.UNKNOWN and r.id in present),
        "unexpected": tuple(sorted(key for key in present if key not in attempted)),
        "duplicated": tuple(sorted(key for key, count in copies.items() if count > 1)),
        "corrupted": tuple(sorted(
            key for key, stored in found
            if key in attempted and attempted[key].outcome is not Outcome.FAILED
            and any(stored.get(name) != value for name, value in attempted[key].payload.items())
        )),
        "refused_but_present": tuple(r.id for r in log if r.outcome is Outcome.FAILED and r.id in present),
    }  # fmt: skip
    windows = _loss_windows(lost, outages)
    window = max((w.window_s for w in windows), default=0.0)
    problems = []
    held = [record for record in lost if restored_from is not None and record.done_wall < restored_from]
    if held:
        problems.append(f"{len(held)} of the {len(lost)} lost writes were acknowledged before the backup restored "
                        "began: the restore lost what its backup held, so the loss reaches back past the drill's "
                        "first write")  # fmt: skip
    if window > budget_s:
        problems.append(f"data-loss window {window:.2f}s exceeds budget {budget_s:g}s")
    elif lost and budget_s == 0:
        problems.append(f"{len(lost)} acknowledged writes lost against a zero budget")
    for category in ("corrupted", "duplicated", "unexpected", "refused_but_present"):
        if ids[category]:
            problems.append(f"{len(ids[category])} {category.replace('_', ' ')}")
    if problems:
        verdict, reason = Verdict.FAILED, "; ".join(problems)
    else:
        verdict = Verdict.PASSED
        reason = f"{len(lost)} of {len(acked)} acknowledged writes lost, window {window:.2f}s (budget {budget_s:g}s)"
    return DataLossMeasurement(
        data_class, len(log), len(acked), len(lost), len(ids["recovered"]), len(ids["unexpected"]),
        len(ids["duplicated"]), len(ids["corrupted"]), window, budget_s, verdict, reason, ids, tuple(windows),
    )  # fmt: skip
