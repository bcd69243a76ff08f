"""Steps that bring up the system under test and the observers around it."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import httpx
from pytest_bdd import given, parsers

from chaos.measure.probe import Prober
from chaos.measure.workload import EventWriter
from chaos.wait import wait_for

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pytest

    from chaos.report.record import DrillRecord
    from chaos.targets.base import Target


@given(parsers.parse("the Calendar Assistant is running with {replicas:d} replicas"), target_fixture="replicas")
def app_running(target: Target, replicas: int) -> int:
    target.scale("app", replicas)

    def all_healthy() -> bool:
        return all(httpx.get(f"{app}/health", timeout=2).status_code == 200 for app in target.endpoints.apps)

    wait_for(all_healthy, what=f"{replicas} healthy replicas", timeout=30, not_yet=(httpx.HTTPError,))
    return replicas


@given("the prober watches /health on every replica", target_fixture="prober")
def prober_running(target: Target, drill: DrillRecord, pytestconfig: pytest.Config) -> Iterator[Prober]:
    prober = Prober(target.endpoints.apps, interval=pytestconfig.getoption("probe_interval")).start()
    yield prober
    prober.stop()
    prober.save(drill.evidence_dir / "probe-timeline.jsonl")
    drill.evidence.append("probe-timeline.jsonl")


@given("a writer creates calendar events through the app", target_fixture="writer")
def writer_running(target: Target, drill: DrillRecord) -> Iterator[EventWriter]:
    writer = EventWriter(target.endpoints.apps, run_id=time.strftime("%H%M%S") + f"-{time.time_ns() % 10**6}")
    writer.start()
    wait_for(writer.acked_count, what="the writer's first acknowledged write", timeout=10)
    yield writer
    writer.stop()
    writer.save(drill.evidence_dir / "ack-log.jsonl")
    drill.evidence.append("ack-log.jsonl")
