"""Recovery time from probe samples: when the fault was seen, and when service was back for good.

A *stream* is one check of one replica (its health endpoint, its data path).
After the fault, each stream keeps a streak of consecutive successes, reset by
any failure. Recovery is *confirmed* at the first sample at which every
stream's streak is at least ``consecutive`` long; the service was *back* when
the last of those streaks began. RTO is fault -> back. Its resolution is the
gap between that first success and the failed sample before it.

A failure after confirmation is a new outage (see ``outage_windows``), not a
longer recovery; a flap before confirmation resets its stream's streak.

Detection is the first failed sample of a real outage: a stream failing more
than BLIP_RUN samples in a row. A lone slow answer on a loaded machine is not
the fault being seen (a graceful stop may take seconds to land, and a blip
before it must not pass for detection and recovery). Recovery is never
confirmed before ``not_before``, the moment the fault was observed to land.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chaos.measure.verdict import Verdict

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from chaos.measure.probe import ProbeSample
    from chaos.measure.timeline import Moment

__all__ = [
    "BLIP_RUN",
    "Incident",
    "OutageWindow",
    "RtoMeasurement",
    "incidents",
    "measure_rto",
    "outage_windows",
    "rto_phases",
]

BLIP_RUN = 2  # failed samples in a row that a loaded machine produces without any outage


@dataclass(frozen=True)
class RtoMeasurement:
    component: str
    fault_at: float
    first_failed_at: float | None
    first_success_at: float | None
    back_at: float | None
    stable_at: float | None
    measured_s: float | None
    resolution_s: float | None
    budget_s: float
    verdict: Verdict
    reason: str
    phases: dict[str, float | None] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "measured_s": _round(self.measured_s),
            "resolution_s": _round(self.resolution_s),
            "budget_s": self.budget_s,
            "verdict": self.verdict.value,
            "reason": self.reason,
            "phases": {name: _round(value) for name, value in self.phases.items()},
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


@dataclass
class _Streak:
    length: int = 0
    started: float | None = None
    failed_before: float | None = None  # the failed sample just before the streak began


def measure_rto(
    samples: Sequence[ProbeSample],
    *,
    streams: Sequence[str],
    fault_at: float,
    consecutive: int,
    budget_s: float,
    component: str,
    not_before: float | None = None,
) -> RtoMeasurement:
    """Judge recovery from the samples taken at or after ``fault_at`` (monotonic seconds)."""

    def result(verdict: Verdict, reason: str, **found: Any) -> RtoMeasurement:
        values: dict[str, Any] = {"first_failed_at": None, "first_success_at": None, "back_at": None,
                                  "stable_at": None, "measured_s": None, "resolution_s": None} | found  # fmt: skip
        return RtoMeasurement(component, fault_at, budget_s=budget_s, verdict=verdict, reason=reason, **values)

    after = sorted((sample for sample in samples if sample.mono >= fault_at), key=lambda sample: sample.mono)
    real = [window.start for window in outage_windows(after) if window.failed_samples > BLIP_RUN]
    first_failed = min(real) if real else next((sample.mono for sample in after if not sample.ok), None)
    if first_failed is None:
        return result(Verdict.UNKNOWN, "the prober never saw the fault: no failed probe after injection")
    confirm_from = max(first_failed, not_before if not_before is not None else fault_at)
    streaks = {stream: _Streak() for stream in streams}
    latest_ok: dict[str, bool] = {}
    first_success: float | None = None
    last_failure: dict[str, float] = {}
    for sample in after:
        streak = streaks.get(sample.stream)
        if streak is None:
            continue
        latest_ok[sample.stream] = sample.ok
        if not sample.ok:
            streaks[sample.stream] = _Streak()
            last_failure[sample.stream] = sample.mono
            continue
        if streak.length == 0:
            streak.started, streak.failed_before = sample.mono, last_failure.get(sample.stream)
        streak.length += 1
        if sample.mono < confirm_from:
            continue
        if first_success is None and len(latest_ok) == len(streams) and all(latest_ok.values()):
            first_success = sample.mono
        if all(s.length >= consecutive for s in streaks.values()):
            deciding = max(streaks.values(), key=lambda s: s.started or 0.0)
            back = deciding.started or sample.mono
            measured = back - fault_at
            verdict = Verdict.PASSED if measured <= budget_s else Verdict.FAILED
            gap = back - deciding.failed_before if deciding.failed_before is not None else 0.0
            return result(
                verdict, f"recovered in {measured:.2f}s (budget {budget_s:g}s)",
                first_failed_at=first_failed, first_success_at=first_success, back_at=back,
                stable_at=sample.mono, measured_s=measured, resolution_s=gap,
            )  # fmt: skip
    observed = (after[-1].mono if after else fault_at) - fault_at
    short = sorted(stream for stream, streak in streaks.items() if streak.length < consecutive)
    return result(
        Verdict.FAILED,
        f"{', '.join(short)} did not answer {consecutive} consecutive probes by the end of observation, "
        f"{observed:.2f}s after the fault (budget {budget_s:g}s)",
        first_failed_at=first_failed, first_success_at=first_success,
    )  # fmt: skip


def rto_phases(rto: RtoMeasurement, moments: Iterable[Moment]) -> dict[str, float | None]:
    """Seconds from the fault to each phase the drill observed; None where it saw none."""
    seen: dict[str, float] = {}
    for moment in moments:
        seen.setdefault(moment.name, moment.mono)

    def since_fault(at: float | None) -> float | None:
        return None if at is None else at - rto.fault_at

    return {
        "detected": since_fault(rto.first_failed_at),
        "recovery_started": since_fault(seen.get("recovery_started")),
        "recovery_finished": since_fault(seen.get("recovery_finished")),
        "first_success": since_fault(rto.first_success_at),
        "back": since_fault(rto.back_at),
        "confirmed": since_fault(rto.stable_at),
    }


@dataclass(frozen=True)
class OutageWindow:
    stream: str
    start_wall: float
    end_wall: float | None  # None: still failing when observation ended
    start: float
    end: float | None
    failed_samples: int

    @property
    def duration_s(self) -> float | None:
        return None if self.end is None else self.end - self.start

    def to_json(self) -> dict[str, Any]:
        return {"stream": self.stream, "start": self.start_wall, "end": self.end_wall,
                "duration_s": _round(self.duration_s), "failed_samples": self.failed_samples}  # fmt: skip


def outage_windows(samples: Sequence[ProbeSample]) -> list[OutageWindow]:
    """Per stream, each run of failed samples: from the first failure to the next success."""
    windows: list[OutageWindow] = []
    by_stream: dict[str, list[ProbeSample]] = {}
    for sample in sorted(samples, key=lambda sample: sample.mono):
        by_stream.setdefault(sample.stream, []).append(sample)
    for stream, own in sorted(by_stream.items()):
        start: ProbeSample | None = None
        failed = 0
        for sample in own:
            if not sample.ok:
                start = start or sample
                failed += 1
            elif start is not None:
                windows.append(OutageWindow(stream, start.wall, sample.wall, start.mono, sample.mono, failed))
                start, failed = None, 0
        if start is not None:
            windows.append(OutageWindow(stream, start.wall, None, start.mono, None, failed))
    return sorted(windows, key=lambda window: window.start)


@dataclass(frozen=True)
class Incident:
    """Overlapping outage windows of any streams, merged: the system was impaired from start to end."""

    start: float
    end: float | None
    start_wall: float
    end_wall: float | None
    streams: tuple[str, ...]
    failed_samples: int
    longest_run: int  # the most consecutive failed probes of any one stream

    @property
    def duration_s(self) -> float | None:
        return None if self.end is None else self.end - self.start

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start_wall, "end": self.end_wall, "duration_s": _round(self.duration_s),
                "streams": list(self.streams), "failed_samples": self.failed_samples,
                "longest_run": self.longest_run}  # fmt: skip


def incidents(windows: Sequence[OutageWindow], *, merge_gap: float) -> list[Incident]:
    """Merge windows that overlap or lie within ``merge_gap`` seconds of each other."""
    merged: list[Incident] = []
    for window in sorted(windows, key=lambda w: w.start):
        last = merged[-1] if merged else None
        if last is not None and (last.end is None or window.start <= last.end + merge_gap):
            ends = [e for e in (last.end, window.end) if e is not None]
            still_open = last.end is None or window.end is None
            end = None if still_open else max(ends)
            end_wall = None if still_open else max(w for w in (last.end_wall, window.end_wall) if w is not None)
            streams = tuple(sorted({*last.streams, window.stream}))
            merged[-1] = Incident(last.start, end, last.start_wall, end_wall, streams,
                                  last.failed_samples + window.failed_samples,
                                  max(last.longest_run, window.failed_samples))  # fmt: skip
        else:
            merged.append(Incident(window.start, window.end, window.start_wall, window.end_wall, (window.stream,),
                                   window.failed_samples, window.failed_samples))  # fmt: skip
    return merged
