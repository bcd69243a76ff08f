"""Monitoring's RTO from what Prometheus reports about its own scrapes."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from chaos.measure.monitoring import MonitoringSample, measure_monitoring_rto
from chaos.measure.verdict import Verdict
from chaos.servers.prometheus import ScrapeTarget

if TYPE_CHECKING:
    from chaos.measure.rto import RtoMeasurement

A, B = "127.0.0.1:20001", "127.0.0.1:20002"
WALL = 1_700_000_000.0  # wall clock = WALL + monotonic, for readable numbers


def polled(at: float, scrapes: dict[str, tuple[str, float | None]] | None) -> MonitoringSample:
    """A poll at monotonic ``at``; ``scrapes``: address -> (health, scrape start, monotonic); None: no answer."""
    if scrapes is None:
        return MonitoringSample(at, WALL + at, "ConnectError: refused")
    targets = tuple(
        ScrapeTarget(address, f"app-{index}", health, None if started is None else WALL + started, 0.01, "")
        for index, (address, (health, started)) in enumerate(scrapes.items())
    )
    return MonitoringSample(at, WALL + at, "", targets)


def judge(samples: list[MonitoringSample], budget: float = 30.0) -> RtoMeasurement:
    return measure_monitoring_rto(samples, expected={A, B}, fault_at=10.0, fault_wall=WALL + 10.0, budget_s=budget,
                                  scrape_interval=1.0)  # fmt: skip


def outage_then(*after: MonitoringSample) -> list[MonitoringSample]:
    return [
        polled(9.5, {A: ("up", 9.2), B: ("up", 9.4)}),
        polled(10.2, None),
        polled(14.0, None),
        polled(15.0, {A: ("unknown", None), B: ("unknown", None)}),
        *after,
    ]


def test_back_at_the_end_of_the_first_good_scrape_of_the_last_replica() -> None:
    rto = judge(outage_then(
        polled(20.5, {A: ("up", 20.0), B: ("unknown", None)}),
        polled(21.0, {A: ("up", 20.0), B: ("up", 20.8)}),
        polled(21.5, {A: ("up", 21.0), B: ("up", 20.8)}),
        polled(22.0, {A: ("up", 21.0), B: ("up", 21.8)}),
    ))  # fmt: skip
    assert rto.verdict is Verdict.PASSED
    assert round(rto.measured_s or 0, 3) == 10.81  # B's first scrape: 20.8 + 0.01
    assert rto.first_failed_at == 10.2
    assert rto.stable_at == 22.0  # both scraped twice
    assert rto.resolution_s == 1.0


def test_scrapes_started_before_the_fault_do_not_count() -> None:
    samples = [
        polled(9.5, {A: ("up", 9.2), B: ("up", 9.4)}),
        polled(10.1, {A: ("up", 9.2), B: ("up", 9.4)}),  # still the pre-fault picture
        polled(10.5, {A: ("down", 10.3), B: ("up", 9.4)}),
        polled(11.5, {A: ("up", 11.3), B: ("down", 10.4)}),
        polled(12.5, {A: ("up", 12.3), B: ("up", 12.4)}),
        polled(13.5, {A: ("up", 13.3), B: ("up", 13.4)}),
    ]
    rto = judge(samples)
    assert rto.verdict is Verdict.PASSED
    assert round(rto.measured_s or 0, 3) == 2.41


def test_a_failed_scrape_after_the_first_success_restarts_that_replicas_count() -> None:
    rto = judge(outage_then(
        polled(20.0, {A: ("up", 19.9), B: ("up", 19.9)}),
        polled(21.0, {A: ("down", 20.9), B: ("up", 20.9)}),
        polled(22.0, {A: ("up", 21.9), B: ("up", 21.9)}),
        polled(23.0, {A: ("up", 22.9), B: ("up", 22.9)}),
    ))  # fmt: skip
    assert round(rto.measured_s or 0, 2) == 11.91  # A's first good scrape after its failure
    assert rto.stable_at == 23.0


def test_a_breached_budget_fails_stating_measured_and_budget() -> None:
    rto = judge(outage_then(polled(20.5, {A: ("up", 20.0), B: ("up", 20.1)}),
                            polled(21.5, {A: ("up", 21.0), B: ("up", 21.1)})), budget=5.0)  # fmt: skip
    assert rto.verdict is Verdict.FAILED
    assert "10.11s after the fault (budget 5s)" in rto.reason


def test_monitoring_that_never_broke_is_unknown() -> None:
    samples = [polled(10.0 + step, {A: ("up", 9.9 + step), B: ("up", 9.9 + step)}) for step in range(5)]
    rto = judge(samples)
    assert rto.verdict is Verdict.UNKNOWN
    assert "never looked broken" in rto.reason


def test_a_replica_never_scraped_again_fails_by_name() -> None:
    rto = judge(outage_then(polled(20.5, {A: ("up", 20.0), B: ("down", 20.1)}),
                            polled(21.5, {A: ("up", 21.0), B: ("down", 21.1)})))  # fmt: skip
    assert rto.verdict is Verdict.FAILED
    assert rto.reason.startswith(f"{B} not scraped successfully 2 times")


def test_monitoring_down_again_after_a_partial_recovery_starts_over() -> None:
    rto = judge(outage_then(
        polled(20.0, {A: ("up", 19.9), B: ("unknown", None)}),
        polled(20.5, None),
        polled(25.0, {A: ("up", 24.9), B: ("up", 24.95)}),
        polled(26.0, {A: ("up", 25.9), B: ("up", 25.95)}),
    ))  # fmt: skip
    assert round(rto.measured_s or 0, 2) == 14.96


def test_one_scrape_seen_by_polls_whose_clocks_jitter_counts_once() -> None:
    """Each poll reads its own (monotonic, wall) pair; the scrape is known by the server's timestamp alone."""

    def jittered(at: float, jitter: float, scrapes: dict[str, tuple[str, float | None]]) -> MonitoringSample:
        sample = polled(at, scrapes)
        return dataclasses.replace(sample, wall=sample.wall + jitter)

    once_then_down = outage_then(
        jittered(20.5, 0.0, {A: ("up", 20.0), B: ("up", 20.1)}),
        jittered(20.7, 0.03, {A: ("up", 20.0), B: ("up", 20.1)}),
        jittered(20.9, -0.02, {A: ("up", 20.0), B: ("up", 20.1)}),  # the same two scrapes, seen a third time
        polled(21.2, {A: ("down", 21.0), B: ("down", 21.1)}),
    )
    rto = judge(once_then_down)
    assert rto.stable_at is None  # one good scrape each, then failures: not confirmed
    assert rto.verdict is Verdict.FAILED
