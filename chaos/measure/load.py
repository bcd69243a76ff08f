"""What the users saw: error rate, outage and latency from every request of a simulated crowd.

The prober asks each replica a question 20 times a second; users ask what they
need, where the load balancer sends them, and judge the service by their
answers. These figures come from the crowd's request log (chaos.measure.crowd),
one record per request, timed by the crowd's process on the wall clock.

- The error rate of a window counts the requests that *started* in it.
- The user-facing outage runs from the start of the first failed request after
  the fault to the end of the last failed one: what the unluckiest user lived
  through, beside the prober's RTO.
- Latency is judged per bin of ``bin_s`` seconds: a bin's p95 counts every
  answered request and every timed-out one (at its time waited, like the
  probes); a request that failed otherwise (refused, an HTTP error, fast or
  not) is never a latency sample: it counts as never answered, so a bin where
  more than 5% of the requests failed has no p95 within any threshold. A
  fast error is a user not served, not a fast answer. Latency is back at the start of the first run of
  ``confirm_s`` seconds of bins that each hold ``min_requests`` answers and
  whose p95 is within the threshold. That moment is known to within one bin:
  the figure's resolution, stated in the reason.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chaos.measure.latency import percentile
from chaos.measure.verdict import Verdict

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "ErrorRate",
    "LatencyBin",
    "LatencyRecovery",
    "UserOutage",
    "UserRequest",
    "error_rate",
    "judge_error_rate",
    "latency_bins",
    "latency_recovery",
    "load_summary",
    "user_outage",
]


@dataclass(frozen=True)
class UserRequest:
    started: float  # wall-clock seconds
    seconds: float
    name: str
    ok: bool
    status: int = 0
    error: str = ""  # refused, connection, timeout, HTTP <status>, not JSON
    retried: bool = False  # refused by one replica, answered by the next

    @property
    def ended(self) -> float:
        return self.started + self.seconds

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> UserRequest:
        return cls(started=float(row["t"]), seconds=float(row["s"]), name=str(row["name"]), ok=bool(row["ok"]),
                   status=int(row.get("status", 0)), error=str(row.get("error", "")),
                   retried=bool(row.get("retried", False)))  # fmt: skip


@dataclass(frozen=True)
class ErrorRate:
    start: float
    end: float
    requests: int
    failed: int

    @property
    def rate(self) -> float | None:
        return self.failed / self.requests if self.requests else None

    def to_json(self) -> dict[str, Any]:
        rate = self.rate
        return {"requests": self.requests, "failed": self.failed,
                "error_rate_pct": None if rate is None else round(rate * 100, 2),
                "window_s": round(self.end - self.start, 3)}  # fmt: skip


def error_rate(requests: Sequence[UserRequest], start: float, end: float) -> ErrorRate:
    """The requests that started in [start, end), and how many of them failed."""
    inside = [request for request in requests if start <= request.started < end]
    return ErrorRate(start, end, len(inside), sum(not request.ok for request in inside))


def judge_error_rate(rate: ErrorRate, max_rate: float, *, min_requests: int) -> tuple[Verdict, str]:
    """Passed when at most ``max_rate`` of the window's requests failed; too few requests prove nothing."""
    window = f"{rate.end - rate.start:.1f}s"
    if rate.requests < min_requests:
        return Verdict.UNKNOWN, (f"only {rate.requests} user requests started in the {window} window (at least "
                                 f"{min_requests} are needed to judge an error rate)")  # fmt: skip
    measured = rate.failed / rate.requests
    verdict = Verdict.PASSED if measured <= max_rate else Verdict.FAILED
    return verdict, (f"{rate.failed} of {rate.requests} user requests failed in the {window} window: "
                     f"{measured * 100:.2f}% against at most {max_rate * 100:g}%")  # fmt: skip


@dataclass(frozen=True)
class UserOutage:
    first_failed: float  # wall-clock start of the first failed request
    last_failed_end: float  # wall-clock end of the last failed request
    failed: int

    @property
    def seconds(self) -> float:
        return self.last_failed_end - self.first_failed

    def to_json(self, origin: float) -> dict[str, Any]:
        return {"from_fault_s": round(self.first_failed - origin, 3), "seconds": round(self.seconds, 3),
                "failed_requests": self.failed}  # fmt: skip


def user_outage(requests: Sequence[UserRequest], after: float) -> UserOutage | None:
    """From the first failed request that started at or after ``after`` to the end of the last; None: none failed."""
    failed = [request for request in requests if not request.ok and request.started >= after]
    if not failed:
        return None
    return UserOutage(min(r.started for r in failed), max(r.ended for r in failed), len(failed))


@dataclass(frozen=True)
class LatencyBin:
    start: float
    requests: int
    failed: int
    answered: int  # requests with a latency worth counting: answered, or timed out
    p95_s: float | None  # math.inf: more than 5% of the bin's requests failed (never answered)


def latency_bins(requests: Sequence[UserRequest], *, start: float, end: float, bin_s: float) -> list[LatencyBin]:
    """Bins of ``bin_s`` seconds from ``start``, up to the last one that ends by ``end``."""
    count = max(0, math.floor((end - start) / bin_s + 1e-9))
    grouped: list[list[UserRequest]] = [[] for _ in range(count)]
    for request in requests:
        index = math.floor((request.started - start) / bin_s)
        if 0 <= index < count:
            grouped[index].append(request)
    bins = []
    for index, inside in enumerate(grouped):
        waits = sorted(r.seconds if r.ok or r.error == "timeout" else math.inf for r in inside)
        bins.append(LatencyBin(start=start + index * bin_s, requests=len(inside), failed=sum(not r.ok for r in inside),
                               answered=sum(w != math.inf for w in waits), p95_s=percentile(waits, 95)))  # fmt: skip
    return bins


@dataclass(frozen=True)
class LatencyRecovery:
    verdict: Verdict
    reason: str
    back_after_s: float | None  # from recovery to the start of the run of good bins


def latency_recovery(
    requests: Sequence[UserRequest], *, recovered_at: float, observed_until: float, threshold_s: float,
    within_s: float, bin_s: float = 1.0, confirm_s: float = 5.0, min_requests: int = 5,
) -> LatencyRecovery:  # fmt: skip
    """Is the p95 latency back under ``threshold_s`` within ``within_s`` of ``recovered_at``, and staying there?

    The log is complete for requests that started before ``observed_until``. The verdict is
    unknown until a run of good bins has started within the deadline and lasted ``confirm_s``,
    or the deadline plus ``confirm_s`` has passed without one.
    """
    bins = latency_bins(requests, start=recovered_at, end=observed_until, bin_s=bin_s)
    run_length = max(1, math.ceil(confirm_s / bin_s))
    last_start = math.floor(within_s / bin_s + 1e-9)  # a run starting in this bin or earlier is in time
    resolution = f"to within one {bin_s:g}s bin"
    limit = f"p95 under {threshold_s * 1000:g} ms for {run_length * bin_s:g}s"

    def good(item: LatencyBin) -> bool:
        return item.answered >= min_requests and item.p95_s is not None and item.p95_s <= threshold_s

    run = 0
    for index, item in enumerate(bins):
        run = run + 1 if good(item) else 0
        start = index - run + 1
        if run >= run_length and start <= last_start:
            back = start * bin_s
            return LatencyRecovery(Verdict.PASSED, f"user latency back ({limit}) {back:g}s after recovery "
                                                   f"({resolution}), within {within_s:g}s", back)  # fmt: skip
        if start > last_start:
            worst = max((b.p95_s for b in bins[: last_start + 1] if b.p95_s is not None), default=None)
            thin = sum(b.answered < min_requests for b in bins[: last_start + 1])
            shown = ("no answers" if worst is None else "in some bin more than 5% of the requests failed"
                     if worst == math.inf else f"worst p95 {worst * 1000:.0f} ms")  # fmt: skip
            return LatencyRecovery(Verdict.FAILED, f"user latency not back ({limit}) within {within_s:g}s of "
                                                   f"recovery: {shown}; {thin} bins with fewer than {min_requests} "
                                                   f"answers ({resolution})", None)  # fmt: skip
    seen = len(bins) * bin_s
    return LatencyRecovery(Verdict.UNKNOWN, f"the users' requests were observed for only {seen:g}s after recovery: "
                                            f"too little to tell whether latency was back ({limit}) within "
                                            f"{within_s:g}s", None)  # fmt: skip


def load_summary(
    requests: Sequence[UserRequest], *, users: int, phases: dict[str, tuple[float, float]], fault_at: float | None
) -> dict[str, Any]:
    """Requests, failures, error rate and p50/p95 latency per phase (name -> [start, end) wall-clock)."""
    kinds = Counter(r.error for r in requests if not r.ok)
    summary: dict[str, Any] = {"users": users, "requests": len(requests), "failed": sum(kinds.values()),
                               "failures": dict(kinds.most_common()), "phases": {}}  # fmt: skip
    for phase, (start, end) in phases.items():
        inside = [r for r in requests if start <= r.started < end]
        answered = sorted(r.seconds for r in inside if r.ok)
        summary["phases"][phase] = {
            **error_rate(inside, start, end).to_json(),
            "latency_ms": {f"p{q}": None if (value := percentile(answered, q)) is None else round(value * 1000, 1)
                           for q in (50, 95)},
        }  # fmt: skip
        summary["phases"][phase].pop("window_s")
    if fault_at is not None:
        outage = user_outage(requests, fault_at)
        summary["user_outage"] = outage.to_json(fault_at) if outage else None
    return summary
