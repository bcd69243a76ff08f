"""Steps that bring up the system under test and the observers around it."""

from __future__ import annotations

import functools
import math
import re
import time
from typing import TYPE_CHECKING, Any

import httpx
from pytest_bdd import given, parsers

from chaos.measure.latency import probe_summary
from chaos.measure.monitoring import MonitoringWatcher
from chaos.measure.probe import Prober
from chaos.measure.workload import Writer, workload_for
from chaos.wait import wait_for
from fixtures.drill import COMMUNICATION_KEY
from fixtures.dry_run import PlanContext, planned

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pytest

    from chaos.measure.workload import Workload
    from chaos.report.record import DrillRecord
    from chaos.targets.base import Target
    from chaos.targets.config import TargetConfig


def _run_id() -> str:
    return f"{time.strftime('%H%M%S')}-{time.time_ns() % 10**6:06d}"


RUNNING = parsers.parse("the Calendar Assistant is running with {replicas:d} replicas")
PROBER = parsers.parse("the prober watches every replica's health and data path")
WRITERS = parsers.parse("writers track {nouns} through the app")


@given(
    planned(RUNNING, lambda a, c: f"SET-UP start the {c.target.name} stack ({c.target.kind}): MongoDB-wire server, "
                                  f"redis-server, Toxiproxy, Prometheus, {a['replicas']} app replicas; wait until "
                                  "all are healthy"),
    target_fixture="replicas",
)  # fmt: skip
def app_running(target: Target, replicas: int) -> int:
    target.scale("app", replicas)

    def all_healthy() -> bool:
        return all(httpx.get(f"{app}/health", timeout=2).status_code == 200 for app in target.endpoints.apps)

    wait_for(all_healthy, what=f"{replicas} healthy replicas", timeout=30, not_yet=(httpx.HTTPError,))
    return replicas


@given(
    planned(
        PROBER,
        lambda a, c: (
            "OBSERVE probe /health and a write/read data path of every replica at 20 Hz, "
            f"each probe waiting up to {c.target.probe_timeout:g}s for its answer"
        ),
    ),
    target_fixture="prober",
)
def prober_running(
    request: pytest.FixtureRequest, target: Target, drill: DrillRecord, pytestconfig: pytest.Config,
    target_config: TargetConfig,
) -> Iterator[Prober]:  # fmt: skip
    prober = Prober(
        target.endpoints.apps,
        interval=pytestconfig.getoption("probe_interval"),
        timeout=pytestconfig.getoption("probe_timeout") or target_config.probe_timeout,
        run_id=_run_id(),
    )
    try:  # started inside: an interrupt right after the start still stops it and keeps what it saw
        prober.start()
        communication = request.node.stash.get(COMMUNICATION_KEY, None)
        if communication is not None:
            communication.watch(prober)  # its first failed probe after the fault is the fault's detection
        yield prober
    finally:
        prober.stop()
    prober.save(drill.evidence_dir / "probe-timeline.jsonl")
    drill.evidence.append("probe-timeline.jsonl")
    drill.probes = probe_summary(prober.samples(), replicas=prober.urls, timeout=prober.timeout,
                                 phases=_phases(drill))  # fmt: skip
    drill.probes_skipped = dict(prober.skipped)


def _phases(drill: DrillRecord) -> dict[str, tuple[float, float]]:
    """Before the fault, while it lasted (until recovery was confirmed, or it was reverted), and after."""
    fault = drill.timeline.first("fault_injected")
    if fault is None:
        return {"whole run": (-math.inf, math.inf)}
    reverted = drill.timeline.first("fault_reverted")
    if drill.rto is not None and drill.rto.stable_at is not None:
        end = drill.rto.stable_at
    else:
        end = reverted.mono if reverted is not None else math.inf
    return {"before": (-math.inf, fault.mono), "during": (fault.mono, end), "after": (end, math.inf)}


def _has_acked(writer: Writer) -> bool:
    return writer.acked_count() > 0


def _tracked(nouns: str) -> list[Workload]:
    return [workload_for(noun) for noun in re.split(r",\s*|\s+and\s+", nouns) if noun.strip()]


def _describe_writers(args: dict[str, Any], context: PlanContext) -> str:
    context.scenario["tracked"] = [workload.data_class for workload in _tracked(args["nouns"])]
    return f"OBSERVE write {args['nouns']} through the app at 50/s each, logging every ack"


@given(planned(WRITERS, _describe_writers), target_fixture="writers")
def writers_running(target: Target, drill: DrillRecord, nouns: str) -> Iterator[dict[str, Writer]]:
    """``nouns``: e.g. "users, calendar events and settings"."""
    workloads = _tracked(nouns)
    run_id = _run_id()
    writers = {w.data_class: Writer(target.endpoints.apps, w, run_id=run_id) for w in workloads}
    try:  # started inside: an interrupt right after a start still stops every writer and keeps its log
        for writer in writers.values():
            writer.start()
        for writer in writers.values():
            # The backup a drill takes next must find each data class written at least once.
            wait_for(functools.partial(_has_acked, writer),
                     what=f"the first acknowledged write of {writer.data_class}", timeout=10)  # fmt: skip
        yield writers
    finally:
        for writer in writers.values():
            writer.stop()
    for data_class, writer in writers.items():
        name = f"ack-log-{data_class}.jsonl"
        writer.save(drill.evidence_dir / name)
        drill.evidence.append(name)


MONITORED = parsers.parse("Prometheus scrapes every replica's metrics")


@given(
    planned(MONITORED, lambda a, c: "OBSERVE poll Prometheus's targets API at 10 Hz; wait until its last scrape of "
                                    "every replica succeeded"),
    target_fixture="monitoring",
)  # fmt: skip
def monitoring_watched(target: Target, drill: DrillRecord) -> Iterator[MonitoringWatcher]:
    endpoints = target.endpoints
    if not endpoints.prometheus_api:
        raise AssertionError(f"{target.description} runs no monitoring: nothing scrapes the replicas")
    expected = set(endpoints.monitored)  # each replica as monitoring knows it
    watcher = MonitoringWatcher(endpoints.prometheus_api, expected)

    def all_scraped() -> bool:
        latest = watcher.latest()
        return latest is not None and latest.working(expected)

    try:
        watcher.start()
        # Prometheus hands newly discovered replicas to its scrapers every 5 s.
        wait_for(all_scraped, what=f"Prometheus to scrape all {len(expected)} replicas successfully", timeout=30)
        yield watcher
    finally:
        watcher.stop()
        watcher.save(drill.evidence_dir / "monitoring-timeline.jsonl")
        drill.evidence.append("monitoring-timeline.jsonl")


PERSISTENCE = parsers.parse("Redis persists with {mode}")


@given(planned(PERSISTENCE, lambda a, c: f"SET-UP switch Redis to {a['mode']} persistence (CONFIG SET; kept "
                                         "across restarts)"))  # fmt: skip
def redis_persists(target: Target, mode: str) -> None:
    target.set_redis_persistence(mode)
