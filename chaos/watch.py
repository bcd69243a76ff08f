"""Measure a recovery someone else performs: ``drill watch``.

Game days are often run by people following the plan by hand. The watcher runs
the prober and the writers against a running target while the system is broken
and repaired, then reads the stores back and reports what it saw: the outage
windows, the RTO phases it could observe, and the data lost per data class.

Nobody tells the watcher when the fault happened, so the first failed probe
stands in for it: RTO is measured from detection, and the report says so.
Each lost write counts against the outage that had not ended when it was
acknowledged, so every outage has its own data-loss window. An outage is a
run of sustained failures, or a degraded period: wherever a stream's share of
failed probes over the availability budget's window is above the budget,
whatever the lengths of its runs (a replica failing every other probe is in an
outage until it stops). Outside the outages, each replica's failure rate is
judged against the availability budget too.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chaos.measure.availability import AvailabilityMeasurement, measure_availability
from chaos.measure.data_loss import DataLossMeasurement, classify_writes
from chaos.measure.final_read import read_tracked
from chaos.measure.probe import DEFAULT_TIMEOUT_S, Prober
from chaos.measure.rto import (
    BLIP_RUN,
    Incident,
    OutageWindow,
    RtoMeasurement,
    degraded_outages,
    failure_runs,
    incidents,
    measure_rto,
    rto_phases,
    sustained_outages,
)
from chaos.measure.verdict import Verdict, worst
from chaos.measure.workload import Workload, Writer

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from chaos.config import Budgets
    from chaos.measure.probe import ProbeSample
    from chaos.targets.base import Endpoints

__all__ = ["WatchReport", "judge_samples", "watch"]


@dataclass
class WatchReport:
    duration_s: float
    budget_profile: str
    outages: list[tuple[Incident, RtoMeasurement]]
    blips: list[OutageWindow]  # runs of failed probes outside every outage: reported, never stretching one
    rpo: dict[str, DataLossMeasurement]
    availability: AvailabilityMeasurement
    windows: list[OutageWindow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict:
        verdicts = [loss.verdict for loss in self.rpo.values()]
        verdicts += [rto.verdict for _, rto in self.outages]
        verdicts.append(self.availability.verdict)
        return worst(verdicts)

    def to_json(self) -> dict[str, Any]:
        return {
            "duration_s": round(self.duration_s, 3),
            "budget_profile": self.budget_profile,
            "verdict": self.verdict.value,
            "outages": [{**incident.to_json(), "rto": rto.to_json()} for incident, rto in self.outages],
            "blips": [incident.to_json() for incident in self.blips],
            "windows": [window.to_json() for window in self.windows],
            "rpo": {name: loss.to_json() for name, loss in self.rpo.items()},
            "availability": self.availability.to_json(),
            "notes": self.notes,
        }

    def lines(self) -> list[str]:
        out = [f"watched {self.duration_s:.1f}s against the {self.budget_profile!r} budgets: {self.verdict.value}"]
        if not self.outages:
            out.append("outages: none observed")
        for number, (incident, rto) in enumerate(self.outages, 1):
            began = time.strftime("%H:%M:%S", time.localtime(incident.start_wall))
            length = "still down at the end" if incident.duration_s is None else f"{incident.duration_s:.2f}s"
            bounds = ", ".join(f"{name} ±{value:.2f}s" for name, value in (("start", incident.start_resolution_s),
                               ("end", incident.end_resolution_s)) if value is not None)  # fmt: skip
            out.append(f"outage {number}: from {began}, {length} ({bounds or 'bounds unresolved'}), "
                       f"{len(incident.streams)} of the probe streams failed")  # fmt: skip
            out.append(f"  RTO from detection: {rto.reason} -> {rto.verdict.value}")
            seen = ", ".join(f"{name} +{value:.2f}s" for name, value in rto.phases.items() if value is not None)
            if seen:
                out.append(f"  phases: {seen}")
        if self.blips:
            failed = sum(blip.failed_samples for blip in self.blips)
            out.append(f"isolated failures outside the outages (at most {BLIP_RUN} in a row; judged by "
                       f"availability): {failed} probes in {len(self.blips)} runs")  # fmt: skip
        budget = f"at most {self.availability.max_failed:.1%} failed in any {self.availability.window_s:g}s"
        out.append(f"availability outside the outages ({budget}): {self.availability.verdict.value}")
        out.extend(f"  {replica.replica}: {replica.reason}" for replica in self.availability.replicas)
        for name, loss in self.rpo.items():
            out.append(
                f"{name}: {loss.attempted} attempted, {loss.acked} acked, {loss.lost} lost, "
                f"{loss.recovered} recovered, {loss.unexpected} unexpected, {loss.duplicated} duplicated, "
                f"{loss.corrupted} corrupted; window {loss.window_s:.2f}s (budget {loss.budget_s:g}s) "
                f"-> {loss.verdict.value}"
            )
            for window in loss.windows:
                which = "after the last outage" if window.outage_start is None else (
                    "outage from " + time.strftime("%H:%M:%S", time.localtime(window.outage_start)))  # fmt: skip
                out.append(f"  {window.lost} lost, {which}: window {window.window_s:.2f}s")
        out.extend(f"note: {note}" for note in self.notes)
        return out


def _save(out: Path, prober: Prober, writers: list[Writer], report: WatchReport) -> None:
    out.mkdir(parents=True, exist_ok=True)
    prober.save(out / "probe-timeline.jsonl")
    for writer in writers:
        writer.save(out / f"ack-log-{writer.data_class}.jsonl")
        loss = report.rpo.get(writer.data_class)
        if loss is not None:
            (out / f"classification-{writer.data_class}.json").write_text(json.dumps(loss.classification(), indent=1))
    (out / "watch-report.json").write_text(json.dumps(report.to_json(), indent=2))


def judge_samples(
    samples: list[ProbeSample],
    *,
    streams: Sequence[str],
    replicas: Sequence[str],
    budgets: Budgets,
    component: str,
    consecutive: int,
) -> tuple[list[OutageWindow], list[tuple[Incident, RtoMeasurement]], list[OutageWindow], AvailabilityMeasurement]:
    """The outage windows, the incidents each with its RTO, the blips and the availability of a watch's samples."""
    # An outage is sustained failure, from its first probe to the first of its confirming streak, or a degraded
    # period (a failure rate above the availability budget, whatever its runs): how a flap's edges fall must not
    # decide whether it is judged at all. The outages of all streams that overlap are one incident. Failures
    # outside them are blips: reported, judged by availability, never stretching an outage.
    windows = sorted(sustained_outages(samples, consecutive=consecutive) + degraded_outages(
        samples, consecutive=consecutive, max_failed=budgets.availability.max_failed,
        window_s=budgets.availability.window_s), key=lambda window: window.start)  # fmt: skip
    impaired = incidents(windows)
    blips = [run for run in failure_runs(samples)
             if not any(i.start <= run.start and (i.end is None or run.start < i.end) for i in impaired)]  # fmt: skip
    outages = []
    for incident in impaired:
        last_failed = max(sample.mono for sample in samples if not sample.ok and incident.start <= sample.mono
                          and (incident.end is None or sample.mono < incident.end))  # fmt: skip
        rto = measure_rto(samples, streams=streams, fault_at=incident.start, consecutive=consecutive,
                          budget_s=budgets.rto_for(component), component=component, not_before=last_failed,
                          detected_at=incident.start)  # fmt: skip
        outages.append((incident, dataclasses.replace(rto, phases=rto_phases(rto, []))))
    availability = measure_availability(
        samples, replicas=replicas, max_failed=budgets.availability.max_failed,
        window_s=budgets.availability.window_s, exclude=[(incident.start, incident.end) for incident, _ in outages],
    )  # fmt: skip
    return windows, outages, blips, availability


def watch(
    endpoints: Endpoints,
    *,
    duration_s: float,
    workloads: list[Workload],
    budgets: Budgets,
    component: str,
    consecutive: int = 5,
    interval: float = 0.05,
    timeout: float = DEFAULT_TIMEOUT_S,
    out: Path | None = None,
    stop: threading.Event | None = None,
) -> WatchReport:
    """Observe for ``duration_s`` (or until ``stop`` is set), then read back and judge."""
    budgets.rto_for(component)
    for workload in workloads:
        budgets.rpo_for(workload.data_class)  # every budget present before anything starts
    run_id = f"watch-{time.strftime('%H%M%S')}"
    prober = Prober(endpoints.apps, interval=interval, timeout=timeout, run_id=run_id).start()
    writers = [Writer(endpoints.apps, workload, run_id=run_id) for workload in workloads]
    started = time.monotonic()
    try:
        for writer in writers:
            writer.start()
        (stop or threading.Event()).wait(duration_s)
    finally:
        for writer in writers:
            writer.stop()
        prober.stop()
    elapsed = time.monotonic() - started
    samples = prober.samples()
    windows, outages, blips, availability = judge_samples(
        samples, streams=prober.streams, replicas=endpoints.apps, budgets=budgets, component=component,
        consecutive=consecutive,
    )  # fmt: skip
    notes = ["the watcher does not know when a fault happened: each RTO counts from the outage's first failed "
             "probe, and each lost write counts against the first outage that had not ended when it was "
             "acknowledged"]  # fmt: skip
    judged = [(incident.start_wall, incident.end_wall) for incident, _ in outages]
    rpo = {}
    for writer in writers:
        found = read_tracked(writer.workload, mongodb_uri=endpoints.mongodb_uri, redis_url=endpoints.redis_url,
                             database=endpoints.database, id_prefix=writer.id_prefix)  # fmt: skip
        budget = budgets.rpo_for(writer.data_class)
        rpo[writer.data_class] = classify_writes(writer.log(), found, data_class=writer.data_class,
                                                 outages=judged, budget_s=budget)  # fmt: skip
    report = WatchReport(elapsed, budgets.profile, outages, blips, rpo, availability, windows, notes)
    if out is not None:
        _save(out, prober, writers, report)
    return report
