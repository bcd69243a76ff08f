"""Recovery time from probe samples: when the fault was seen, and when service was back for good.

A *stream* is one check of one replica (its health endpoint, its data path).
After the fault, each stream keeps a streak of consecutive successes, reset by
any failure. Recovery is *confirmed* at the first sample at which every
stream's streak is at least ``consecutive`` long; the service was *back* when
the last of those streaks began. RTO is fault -> back. Its resolution is the
gap between that first success and the failed sample before it.

A failure after confirmation is a new outage (see ``sustained_outages``), not a
longer recovery; a flap before confirmation resets its stream's streak.

Detection is the first failed sample of a real outage: a stream failing more
than BLIP_RUN samples in a row. A lone failed probe is not the fault being seen
(a graceful stop may take seconds to land, and a blip before it must not pass
for detection and recovery); with blips alone after the fault, the RTO is
unknown. Recovery is never confirmed before ``not_before``,
the moment the fault was observed to land.

Outage bounds come from sustained failure alone: per stream, an outage starts at
the first probe of a run of more than BLIP_RUN failures and ends at the first
probe of the streak of ``consecutive`` successes that confirms it is over. Lone
failures near it are blips, reported beside it (``failure_runs``), never
stretching it. Each bound has a resolution: the true start lies between the
outage's first probe and the success before it, the true end between the
confirming streak's first probe and the failure before it. Incidents are the
outages of all streams that overlap, merged.

A degraded period is an outage too, whatever its runs' lengths (``degraded_outages``):
per stream, wherever the share of failed probes in a window of the availability
budget's length is above its ``max_failed``, from the first failure of such a
window to the first probe of the streak that confirms the service back after the
last failure of any that overlap. A flap failing half its probes in runs of two
and one failing them in runs of three are the same outage.
"""

from __future__ import annotations

import bisect
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
    "degraded_outages",
    "failure_runs",
    "incidents",
    "measure_rto",
    "rto_phases",
    "sustained_outages",
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
    detected_at: float | None = None,
) -> RtoMeasurement:
    """Judge recovery from the samples taken at or after ``fault_at`` (monotonic seconds). ``detected_at``: the
    outage's first failed probe when the caller found the outage itself (a degraded period), instead of the
    first sustained run of failures after ``fault_at``."""

    def result(verdict: Verdict, reason: str, **found: Any) -> RtoMeasurement:
        values: dict[str, Any] = {"first_failed_at": None, "first_success_at": None, "back_at": None,
                                  "stable_at": None, "measured_s": None, "resolution_s": None} | found  # fmt: skip
        return RtoMeasurement(component, fault_at, budget_s=budget_s, verdict=verdict, reason=reason, **values)

    after = sorted((sample for sample in samples if sample.mono >= fault_at), key=lambda sample: sample.mono)
    real = [window.start for window in sustained_outages(after, consecutive=consecutive)]
    if detected_at is not None:
        real = [detected_at]
    if not real:
        blips = sum(1 for sample in after if not sample.ok)
        if not blips:
            return result(Verdict.UNKNOWN, "the prober never saw the fault: no failed probe after injection")
        return result(Verdict.UNKNOWN, f"the prober never saw the fault as an outage: {blips} failed probe(s) "
                                       f"after injection, never more than {BLIP_RUN} in a row on one check "
                                       f"(blips a loaded machine makes without any fault)")  # fmt: skip
    first_failed = min(real)
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
    start_resolution_s: float | None = None  # start minus the success before it; None: none before
    end_resolution_s: float | None = None  # end minus the failure before it

    @property
    def duration_s(self) -> float | None:
        return None if self.end is None else self.end - self.start

    def to_json(self) -> dict[str, Any]:
        return {"stream": self.stream, "start": self.start_wall, "end": self.end_wall,
                "duration_s": _round(self.duration_s), "failed_samples": self.failed_samples,
                "start_resolution_s": _round(self.start_resolution_s),
                "end_resolution_s": _round(self.end_resolution_s)}  # fmt: skip


def _by_stream(samples: Sequence[ProbeSample]) -> dict[str, list[ProbeSample]]:
    streams: dict[str, list[ProbeSample]] = {}
    for sample in sorted(samples, key=lambda sample: sample.mono):
        streams.setdefault(sample.stream, []).append(sample)
    return dict(sorted(streams.items()))


def failure_runs(samples: Sequence[ProbeSample]) -> list[OutageWindow]:
    """Per stream, each run of consecutive failed samples: from the first failure to the next success."""
    windows: list[OutageWindow] = []
    for stream, own in _by_stream(samples).items():
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


def sustained_outages(
    samples: Sequence[ProbeSample], *, consecutive: int, blip_run: int = BLIP_RUN
) -> list[OutageWindow]:
    """Per stream, each outage from its first sustained failure to the first probe of its confirming streak."""
    windows: list[OutageWindow] = []
    for stream, own in _by_stream(samples).items():
        last_ok: ProbeSample | None = None
        run: list[ProbeSample] = []  # failures in a row, not yet an outage
        first: ProbeSample | None = None  # the outage's first probe, once the run is long enough
        failed, last_failed = 0, None
        streak: list[ProbeSample] = []
        for sample in own:
            if first is None:
                if sample.ok:
                    run, last_ok = [], sample
                    continue
                run.append(sample)
                if len(run) > blip_run:
                    first, failed, last_failed, streak = run[0], len(run), sample, []
                continue
            if not sample.ok:
                failed, last_failed, streak = failed + 1, sample, []
                continue
            streak.append(sample)
            if len(streak) >= consecutive:
                assert last_failed is not None
                windows.append(OutageWindow(
                    stream, first.wall, streak[0].wall, first.mono, streak[0].mono, failed,
                    None if last_ok is None else first.mono - last_ok.mono, streak[0].mono - last_failed.mono,
                ))  # fmt: skip
                first, run, last_ok = None, [], sample
        if first is not None:
            windows.append(OutageWindow(stream, first.wall, None, first.mono, None, failed,
                                        None if last_ok is None else first.mono - last_ok.mono))  # fmt: skip
    return sorted(windows, key=lambda window: window.start)


def _above(own: Sequence[ProbeSample], first: int, end: int, max_failed: float) -> int | None:
    """The index of the last failure in ``own[first:end]`` when its share of failures is above ``max_failed``."""
    window = own[first:end]
    failed = [index for index, sample in enumerate(window, first) if not sample.ok]
    return failed[-1] if window and len(failed) / len(window) > max_failed else None


def degraded_outages(
    samples: Sequence[ProbeSample], *, consecutive: int, max_failed: float, window_s: float
) -> list[OutageWindow]:
    """Per stream, each span whose failure rate over ``window_s`` is above ``max_failed``: from the first failure
    of its first such window to the first probe of the confirming streak after the last failure of the last.

    Windows start or end at a failure and must lie inside the observation, so that a failure near its edge is
    not judged by a handful of probes; an observation shorter than ``window_s`` is judged as one window.
    """
    windows: list[OutageWindow] = []
    for stream, own in _by_stream(samples).items():
        monos = [sample.mono for sample in own]
        spans: list[list[int]] = []  # [first failure, last failure], indices into own
        short = monos[-1] - monos[0] < window_s  # the whole observation is one window, judged once
        if short and (last := _above(own, 0, len(own), max_failed)) is not None:
            spans.append([next(i for i, sample in enumerate(own) if not sample.ok), last])
        for index, sample in enumerate(own):
            if short or sample.ok:
                continue
            found = []
            if sample.mono + window_s <= monos[-1]:  # the window starting here
                found.append((index, _above(own, index, bisect.bisect_left(monos, sample.mono + window_s),
                                            max_failed)))  # fmt: skip
            if sample.mono - window_s >= monos[0]:  # the window ending here
                start = bisect.bisect_right(monos, sample.mono - window_s)
                found.append((start, _above(own, start, index + 1, max_failed)))
            for start, last in found:
                if last is None:
                    continue
                first = next(i for i in range(start, last + 1) if not own[i].ok)
                if spans and first <= spans[-1][1]:
                    spans[-1] = [min(spans[-1][0], first), max(spans[-1][1], last)]
                else:
                    spans.append([first, last])
        for first, last in spans:
            streak_start = None
            for index in range(last + 1, len(own)):
                if not own[index].ok:
                    streak_start = None
                    continue
                streak_start = index if streak_start is None else streak_start
                if index - streak_start + 1 >= consecutive:
                    break
            else:
                streak_start = None
            failed = sum(1 for sample in own[first : last + 1] if not sample.ok)
            before = own[first - 1].mono if first > 0 else None
            if streak_start is None:
                windows.append(OutageWindow(stream, own[first].wall, None, own[first].mono, None, failed,
                                            None if before is None else own[first].mono - before))  # fmt: skip
            else:
                end = own[streak_start]
                windows.append(OutageWindow(stream, own[first].wall, end.wall, own[first].mono, end.mono, failed,
                                            None if before is None else own[first].mono - before,
                                            end.mono - own[streak_start - 1].mono))  # fmt: skip
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
    longest_run: int  # the most failed probes of any one stream's window
    start_resolution_s: float | None = None  # of the window that starts it, and of the one that ends it
    end_resolution_s: float | None = None

    @property
    def duration_s(self) -> float | None:
        return None if self.end is None else self.end - self.start

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start_wall, "end": self.end_wall, "duration_s": _round(self.duration_s),
                "streams": list(self.streams), "failed_samples": self.failed_samples,
                "longest_run": self.longest_run, "start_resolution_s": _round(self.start_resolution_s),
                "end_resolution_s": _round(self.end_resolution_s)}  # fmt: skip


def _incident(group: list[OutageWindow]) -> Incident:
    first = group[0]
    open_ = any(window.end is None for window in group)
    last = None if open_ else max(group, key=lambda window: window.end or 0.0)
    return Incident(
        first.start, None if last is None else last.end, first.start_wall, None if last is None else last.end_wall,
        tuple(sorted({window.stream for window in group})), sum(window.failed_samples for window in group),
        max(window.failed_samples for window in group), first.start_resolution_s,
        None if last is None else last.end_resolution_s,
    )  # fmt: skip


def incidents(windows: Sequence[OutageWindow], *, merge_gap: float = 0.0) -> list[Incident]:
    """Merge windows that overlap, or lie within ``merge_gap`` seconds of each other."""
    groups: list[list[OutageWindow]] = []
    reach: float | None = None  # the end of the current group; None: still open
    for window in sorted(windows, key=lambda w: w.start):
        if groups and (reach is None or window.start <= reach + merge_gap):
            groups[-1].append(window)
            reach = None if reach is None or window.end is None else max(reach, window.end)
        else:
            groups.append([window])
            reach = window.end
    return [_incident(group) for group in groups]
