"""Jepsen-style accounting of tracked writes against what the store holds after recovery.

    lost        acknowledged, missing
    recovered   outcome unknown, present
    unexpected  present under the writer's ids, never attempted
    corrupted   present, content differs from what was written
The data-loss window is the fault time minus the acknowledgement time of the
oldest lost write: how far back in time the recovered state reaches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chaos.measure.verdict import Verdict
from chaos.measure.workload import Outcome

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from chaos.measure.workload import AckRecord

__all__ = ["DataLossMeasurement", "classify_writes"]

SAMPLE_IDS = 20


@dataclass(frozen=True)
class DataLossMeasurement:
    data_class: str
    attempted: int
    acked: int
    lost: int
    recovered: int
    unexpected: int
    corrupted: int
    window_s: float
    budget_s: float
    verdict: Verdict
    reason: str
    lost_ids: tuple[str, ...] = field(default=())
    corrupted_ids: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "data_class": self.data_class, "attempted": self.attempted, "acked": self.acked,
            "lost": self.lost, "recovered": self.recovered, "unexpected": self.unexpected,
            "corrupted": self.corrupted, "window_s": round(self.window_s, 3), "budget_s": self.budget_s,
            "verdict": self.verdict.value, "reason": self.reason,
            "lost_ids_sample": list(self.lost_ids[:SAMPLE_IDS]),
            "corrupted_ids_sample": list(self.corrupted_ids[:SAMPLE_IDS]),
        }  # fmt: skip


def classify_writes(
    log: Sequence[AckRecord],
    present: Mapping[str, Mapping[str, Any]],
    *,
    data_class: str,
    fault_wall: float,
    budget_s: float,
) -> DataLossMeasurement:
    """Classify every write of ``log`` against ``present`` (id -> stored fields)."""
    attempted = {record.id: record for record in log}
    acked = [record for record in log if record.outcome is Outcome.ACKED]
    lost = sorted((record for record in acked if record.id not in present), key=lambda r: r.done_wall)
    recovered = [r for r in log if r.outcome is Outcome.UNKNOWN and r.id in present]
    unexpected = [key for key in present if key not in attempted]
    corrupted = sorted(
        key for key, stored in present.items()
        if key in attempted and attempted[key].outcome is not Outcome.FAILED
        and any(stored.get(name) != value for name, value in attempted[key].payload.items())
    )  # fmt: skip
    failed_but_present = [r.id for r in log if r.outcome is Outcome.FAILED and r.id in present]
    window = max(0.0, fault_wall - lost[0].done_wall) if lost else 0.0
    problems = []
    if window > budget_s:
        problems.append(f"data-loss window {window:.2f}s exceeds budget {budget_s:g}s")
    if corrupted:
        problems.append(f"{len(corrupted)} writes corrupted")
    if failed_but_present:
        problems.append(f"{len(failed_but_present)} writes refused by the app are present anyway")
    if problems:
        verdict, reason = Verdict.FAILED, "; ".join(problems)
    else:
        verdict = Verdict.PASSED
        reason = (f"{len(lost)} of {len(acked)} acknowledged writes lost, window {window:.2f}s "
                  f"(budget {budget_s:g}s)")  # fmt: skip
    return DataLossMeasurement(
        data_class, len(log), len(acked), len(lost), len(recovered), len(unexpected), len(corrupted),
        window, budget_s, verdict, reason, tuple(r.id for r in lost), tuple(corrupted),
    )  # fmt: skip
