"""Pictures of a drill: the probe timeline of one scenario, and RTO/RPO trends across runs.

The timeline shows, per probe stream, when it answered (green) and failed
(red), the fault and recovery windows, the phases the drill observed, and
where the RTO budget ends. Everything drawn comes from the evidence files and
the drill record; nothing is interpolated.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")  # files only; never a display

import matplotlib.pyplot as plt

from chaos.measure.latency import percentile

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from chaos.measure.load import UserRequest
    from chaos.report.record import DrillRecord

__all__ = ["load_png", "timeline_png", "trend_png"]

OK, FAILED = "#2e9e4f", "#d1342f"


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _runs(points: list[tuple[float, bool]], interval: float) -> list[tuple[float, float, bool]]:
    """Consecutive samples of one outcome as (start, width, ok) bars."""
    bars: list[tuple[float, float, bool]] = []
    for at, ok in points:
        if bars and bars[-1][2] == ok and at - (bars[-1][0] + bars[-1][1]) <= 2 * interval:
            start, _, _ = bars[-1]
            bars[-1] = (start, at - start + interval, ok)
        else:
            bars.append((at, interval, ok))
    return bars


def _streams(record: DrillRecord, origin: float) -> dict[str, list[tuple[float, bool]]]:
    streams: dict[str, list[tuple[float, bool]]] = {}
    urls: dict[str, str] = {}
    for sample in _jsonl(record.evidence_dir / "probe-timeline.jsonl"):
        replica = urls.setdefault(sample["target"], f"replica {len(urls)}")
        streams.setdefault(f"{replica} {sample['check']}", []).append((sample["mono"] - origin, bool(sample["ok"])))
    monitoring = _jsonl(record.evidence_dir / "monitoring-timeline.jsonl")
    if monitoring:
        row = streams.setdefault("Prometheus: every replica scraped up", [])
        for poll in monitoring:
            targets = poll.get("targets") or []
            ok = not poll["error"] and bool(targets) and all(target["health"] == "up" for target in targets)
            row.append((poll["mono"] - origin, ok))
    return streams


def timeline_png(record: DrillRecord, path: Path, *, interval: float = 0.05) -> Path | None:
    """Draw the scenario's timeline; None when there is no probe or monitoring evidence to draw."""
    moments = record.timeline.moments()
    fault = next((moment for moment in moments if moment.name == "fault_injected"), None)
    samples_origin = fault.mono if fault is not None else (moments[0].mono if moments else 0.0)
    streams = _streams(record, samples_origin)
    if not streams:
        return None
    names = sorted(streams)
    figure, axes = plt.subplots(figsize=(11, 1.2 + 0.42 * len(names)), dpi=100)
    try:
        for row, name in enumerate(names):
            bars = _runs(sorted(streams[name]), interval)
            axes.broken_barh([(start, width) for start, width, _ in bars], (row - 0.35, 0.7),
                             facecolors=[OK if ok else FAILED for _, _, ok in bars])  # fmt: skip
        seen = {moment.name: moment.mono - samples_origin for moment in reversed(moments)}
        if fault is not None:
            end = seen.get("fault_reverted", seen.get("recovery_started"))
            if end is not None and end > 0:
                axes.axvspan(0, end, color=FAILED, alpha=0.08, label="fault in effect")
            if "recovery_started" in seen and "recovery_finished" in seen:
                axes.axvspan(seen["recovery_started"], seen["recovery_finished"], color="#3b6fd1", alpha=0.10,
                             label="recovery procedure")  # fmt: skip
            axes.axvline(0, color=FAILED, linewidth=1.5, label="fault injected")
        rto = record.rto
        if rto is not None:
            for phase, style in (("detected", ":"), ("back", "--"), ("confirmed", "-.")):
                value = rto.phases.get(phase)
                if value is not None:
                    axes.axvline(value, color="#333333", linestyle=style, linewidth=1, label=phase)
            right = max(max(at for at, _ in streams[name]) for name in names)
            if rto.budget_s <= max(right, 1.0) * 4:
                axes.axvline(rto.budget_s, color="#b5651d", linewidth=2, label=f"RTO budget {rto.budget_s:g}s")
            else:
                axes.annotate(f"RTO budget {rto.budget_s:g}s after the fault: off the chart →", xy=(1.0, -0.02),
                              xycoords="axes fraction", ha="right", va="top", color="#b5651d", fontsize=9)  # fmt: skip
        axes.set_yticks(range(len(names)), names, fontsize=8)
        axes.set_xlabel("seconds after the fault" if fault is not None else "seconds")
        measured = "" if rto is None or rto.measured_s is None else f" — RTO {rto.measured_s:.2f}s"
        axes.set_title(f"{record.name} ({record.verdict.value}){measured}", fontsize=10)
        axes.grid(axis="x", alpha=0.3)
        _save(figure, axes, path, legend_size=8)
    finally:
        plt.close(figure)
    return path


def load_png(
    requests: Sequence[UserRequest], path: Path, *, title: str, fault_at: float | None, recovered_at: float | None,
    bin_s: float = 1.0,
) -> Path | None:  # fmt: skip
    """What the simulated users saw, per ``bin_s``: requests answered and failed, and the p95 latency of the
    answered ones; seconds from the fault (wall clock). None when no request was logged."""
    if not requests:
        return None
    origin = fault_at if fault_at is not None else min(r.started for r in requests)
    first = math.floor((min(r.started for r in requests) - origin) / bin_s)
    last = math.floor((max(r.started for r in requests) - origin) / bin_s)
    ok = [0] * (last - first + 1)
    failed = [0] * (last - first + 1)
    answered: list[list[float]] = [[] for _ in ok]
    for request in requests:
        index = math.floor((request.started - origin) / bin_s) - first
        if request.ok:
            ok[index] += 1
            answered[index].append(request.seconds)
        else:
            failed[index] += 1
    xs = [(first + index) * bin_s for index in range(len(ok))]
    p95 = [percentile(sorted(values), 95) for values in answered]
    figure, (counts, latency) = plt.subplots(2, 1, figsize=(11, 5.5), dpi=100, sharex=True)
    try:
        counts.bar(xs, [n / bin_s for n in ok], width=bin_s, align="edge", color=OK, label="answered /s")
        counts.bar(xs, [n / bin_s for n in failed], width=bin_s, align="edge", bottom=[n / bin_s for n in ok],
                   color=FAILED, label="failed /s")  # fmt: skip
        counts.set_ylabel("requests /s")
        drawn = [(x + bin_s / 2, v * 1000) for x, v in zip(xs, p95, strict=True) if v is not None]
        latency.plot([x for x, _ in drawn], [v for _, v in drawn], marker=".", color="#3b6fd1", label="p95 answered")
        latency.set_ylabel("p95 latency (ms)")
        latency.set_ylim(bottom=0)
        for axes in (counts, latency):
            if fault_at is not None:
                axes.axvline(0, color=FAILED, linewidth=1.5, label="fault injected")
            if recovered_at is not None:
                axes.axvline(recovered_at - origin, color="#333333", linestyle="--", linewidth=1,
                             label="replicas back (prober)")  # fmt: skip
            axes.grid(alpha=0.3)
        latency.set_xlabel("seconds after the fault" if fault_at is not None else "seconds")
        total = sum(failed)
        counts.set_title(f"{title}: what the users saw ({len(requests)} requests, {total} failed)", fontsize=10)
        if counts.get_legend_handles_labels()[0]:
            counts.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
        _save(figure, latency, path, legend_size=8)
    finally:
        plt.close(figure)
    return path


def trend_png(series: dict[str, list[tuple[str, float | None]]], path: Path, *, ylabel: str, title: str) -> Path | None:
    """One line per scenario across runs: ``series`` maps a scenario to (run id, value) in run order."""
    drawn = {name: points for name, points in series.items() if any(value is not None for _, value in points)}
    if not drawn:
        return None
    runs = sorted({run for points in drawn.values() for run, _ in points})
    figure, axes = plt.subplots(figsize=(11, 4.5), dpi=100)
    try:
        for name, points in sorted(drawn.items()):
            xs = [runs.index(run) for run, value in points if value is not None]
            ys = [value for _, value in points if value is not None]
            axes.plot(xs, ys, marker="o", linewidth=1.2, label=name if len(name) <= 70 else name[:69] + "…")
        axes.set_xticks(range(len(runs)), runs, rotation=30, ha="right", fontsize=7)
        axes.set_ylabel(ylabel)
        axes.set_title(title, fontsize=10)
        axes.grid(alpha=0.3)
        _save(figure, axes, path, legend_size=7)
    finally:
        plt.close(figure)
    return path


def _save(figure: Figure, axes: Axes, path: Path, *, legend_size: int) -> None:
    """The legend to the right of the plot (when anything is labelled: a drill that failed before its
    fault has no marker to name), then the PNG."""
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=legend_size, frameon=False)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
