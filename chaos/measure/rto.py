"""Recovery time from probe samples: when the fault was seen, and when service was back for good.

Per replica, the *final run* is the run of successful probes after its last
failure. The service is back at the latest start of a final run across
replicas, provided every final run is at least ``consecutive`` samples long;
RTO is the time from the fault to that moment. The uncertainty is the gap
between that first success and the failed probe before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chaos.measure.verdict import Verdict

if TYPE_CHECKING:
    from collections.abc import Sequence

    from chaos.measure.probe import ProbeSample

__all__ = ["RtoMeasurement", "measure_rto"]


@dataclass(frozen=True)
class RtoMeasurement:
    component: str
    fault_at: float
    first_failed_at: float | None
    back_at: float | None
    stable_at: float | None
    measured_s: float | None
    resolution_s: float | None
    budget_s: float
    verdict: Verdict
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "measured_s": _round(self.measured_s),
            "resolution_s": _round(self.resolution_s),
            "budget_s": self.budget_s,
            "verdict": self.verdict.value,
            "reason": self.reason,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


@dataclass(frozen=True)
class _Recovery:
    back_at: float  # first sample of the final run of successes
    confirmed_at: float  # the sample that made the run ``consecutive`` long
    gap: float  # from the failure before ``back_at`` to ``back_at``


def _final_run(samples: Sequence[ProbeSample], consecutive: int) -> _Recovery | None:
    last_failure = max((i for i, sample in enumerate(samples) if not sample.ok), default=None)
    start = 0 if last_failure is None else last_failure + 1
    run = samples[start:]
    if len(run) < consecutive:
        return None
    gap = 0.0 if last_failure is None else run[0].mono - samples[last_failure].mono
    return _Recovery(run[0].mono, run[consecutive - 1].mono, gap)


def measure_rto(
    samples: Sequence[ProbeSample],
    *,
    targets: Sequence[str],
    fault_at: float,
    consecutive: int,
    budget_s: float,
    component: str,
) -> RtoMeasurement:
    """Judge recovery from the samples taken at or after ``fault_at`` (monotonic seconds)."""

    def result(verdict: Verdict, reason: str, **found: Any) -> RtoMeasurement:
        values: dict[str, Any] = {"first_failed_at": None, "back_at": None, "stable_at": None,
                                  "measured_s": None, "resolution_s": None} | found  # fmt: skip
        return RtoMeasurement(component, fault_at, budget_s=budget_s, verdict=verdict, reason=reason, **values)

    after = [sample for sample in samples if sample.mono >= fault_at]
    failures = [sample.mono for sample in after if not sample.ok]
    if not failures:
        return result(Verdict.UNKNOWN, "the prober never saw the fault: no failed probe after injection")
    first_failed = min(failures)
    recoveries: list[_Recovery] = []
    for target in targets:
        own = sorted((sample for sample in after if sample.target == target), key=lambda s: s.mono)
        recovery = _final_run(own, consecutive)
        if recovery is None:
            observed = max((sample.mono for sample in after), default=fault_at) - fault_at
            return result(
                Verdict.FAILED,
                f"{target} did not answer {consecutive} consecutive probes by the end of observation, "
                f"{observed:.2f}s after the fault (budget {budget_s:g}s)",
                first_failed_at=first_failed,
            )
        recoveries.append(recovery)
    back = max(recoveries, key=lambda recovery: recovery.back_at)
    measured = back.back_at - fault_at
    verdict = Verdict.PASSED if measured <= budget_s else Verdict.FAILED
    reason = f"recovered in {measured:.2f}s (budget {budget_s:g}s)"
    return result(
        verdict, reason, first_failed_at=first_failed, back_at=back.back_at,
        stable_at=max(recovery.confirmed_at for recovery in recoveries),
        measured_s=measured, resolution_s=back.gap,
    )  # fmt: skip
