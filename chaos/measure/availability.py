"""Availability per replica: the share of failed probes in any window of the budget's length.

Outages are judged by runs of failed probes (see chaos.measure.rto); a replica
that fails every other probe never has a run, yet half its users' requests
fail. So each replica is also judged by the failure rate of its probes (every
check of it, together) in a sliding window: the worst window must stay within
the budget's ``max_failed`` fraction. Windows are ``window_s`` long; an
observation shorter than that is judged as one window. Time inside outages
that are judged by their RTO can be left out (``exclude``). The resolution of a
window's share is one probe in the window's probe count.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chaos.measure.verdict import Verdict, worst

if TYPE_CHECKING:
    from collections.abc import Sequence

    from chaos.measure.probe import ProbeSample

__all__ = ["AvailabilityMeasurement", "ReplicaAvailability", "measure_availability"]


@dataclass(frozen=True)
class ReplicaAvailability:
    replica: str
    probes: int
    failed: int
    failures: dict[str, int]  # failed probes per kind: refused, timeout, dropped, 5xx, 4xx, wrong-answer
    worst_failed: int  # the worst window: its failed probes, all its probes, and when it began (wall seconds)
    worst_probes: int
    worst_start: float | None
    verdict: Verdict
    reason: str

    @property
    def worst_fraction(self) -> float:
        return self.worst_failed / self.worst_probes if self.worst_probes else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"replica": self.replica, "probes": self.probes, "failed": self.failed, "failures": self.failures,
                "worst_window": {"failed": self.worst_failed, "probes": self.worst_probes, "start": self.worst_start,
                                 "fraction": round(self.worst_fraction, 4)},
                "verdict": self.verdict.value, "reason": self.reason}  # fmt: skip


@dataclass(frozen=True)
class AvailabilityMeasurement:
    replicas: tuple[ReplicaAvailability, ...]
    max_failed: float
    window_s: float

    @property
    def verdict(self) -> Verdict:
        return worst(replica.verdict for replica in self.replicas)

    @property
    def reason(self) -> str:
        if not self.replicas:
            return "no replica to judge"
        return "; ".join(f"{replica.replica}: {replica.reason}" for replica in self.replicas)

    def to_json(self) -> dict[str, Any]:
        return {"max_failed": self.max_failed, "window_s": self.window_s, "verdict": self.verdict.value,
                "replicas": [replica.to_json() for replica in self.replicas]}  # fmt: skip


def _worst_window(samples: Sequence[ProbeSample], window_s: float) -> tuple[int, int, float | None]:
    """(failed, probes, start) of the window with the highest failed share; samples sorted by time.

    The windows are ``[t, t + window_s)`` from each sample that has a whole window after it, and the
    last ``window_s`` seconds: every sample lies in at least one window.
    """
    if not samples:
        return 0, 0, None
    last = samples[-1].mono
    tail = [s for s in samples if s.mono > last - window_s]
    best = (sum(not s.ok for s in tail), len(tail), tail[0].wall)
    right, failed = 0, 0
    for left, first in enumerate(samples):
        if first.mono + window_s > last:
            break
        while right < len(samples) and samples[right].mono < first.mono + window_s:
            failed += not samples[right].ok
            right += 1
        if failed * best[1] > best[0] * (right - left):
            best = (failed, right - left, first.wall)
        failed -= not first.ok
    return best


def measure_availability(
    samples: Sequence[ProbeSample],
    *,
    replicas: Sequence[str],
    max_failed: float,
    window_s: float,
    exclude: Sequence[tuple[float, float | None]] = (),
) -> AvailabilityMeasurement:
    """Judge each of ``replicas`` (base URLs) by its worst window; ``exclude``: (start, end or None), monotonic."""

    def excluded(sample: ProbeSample) -> bool:
        return any(start <= sample.mono and (end is None or sample.mono <= end) for start, end in exclude)

    judged = []
    for replica in replicas:
        own = sorted((s for s in samples if s.target == replica and not excluded(s)), key=lambda s: s.mono)
        failed = [s for s in own if not s.ok]
        kinds = dict(Counter(s.failure or "other" for s in failed))
        worst_failed, worst_probes, start = _worst_window(own, window_s)
        if not own:
            verdict, reason = Verdict.UNKNOWN, "no probe of this replica to judge"
        else:
            share = worst_failed / worst_probes
            verdict = Verdict.PASSED if share <= max_failed else Verdict.FAILED
            kinds_text = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items())) or "none"
            reason = (f"{len(failed)} of {len(own)} probes failed ({kinds_text}); worst {window_s:g}s window "
                      f"{worst_failed} of {worst_probes} ({share:.1%}, budget {max_failed:.1%})")  # fmt: skip
        judged.append(ReplicaAvailability(replica, len(own), len(failed), kinds, worst_failed, worst_probes, start,
                                          verdict, reason))  # fmt: skip
    return AvailabilityMeasurement(tuple(judged), max_failed, window_s)
