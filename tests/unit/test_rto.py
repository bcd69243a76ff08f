"""RTO arithmetic on known probe timelines."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaos.measure.probe import ProbeSample
from chaos.measure.rto import (
    BLIP_RUN,
    RtoMeasurement,
    failure_runs,
    incidents,
    measure_rto,
    rto_phases,
    sustained_outages,
)
from chaos.measure.timeline import Moment
from chaos.measure.verdict import Verdict

A, B = "http://a", "http://b"
HEALTH_A, HEALTH_B = f"health {A}", f"health {B}"


def timeline(
    target: str, pattern: str, start: float = 0.0, step: float = 0.1, check: str = "health"
) -> list[ProbeSample]:
    """One sample per character: '+' healthy, '-' failed, every ``step`` seconds from ``start``."""
    return [
        ProbeSample(target, start + i * step, 1000 + start + i * step, char == "+", 200 if char == "+" else 503,
                    0.01, "" if char == "+" else "HTTP 503", check)
        for i, char in enumerate(pattern)
    ]  # fmt: skip


def measure(
    samples: list[ProbeSample], streams: tuple[str, ...] = (HEALTH_A,), consecutive: int = 3, budget: float = 10.0
) -> RtoMeasurement:
    return measure_rto(samples, streams=streams, fault_at=0.0, consecutive=consecutive, budget_s=budget,
                       component="database")  # fmt: skip


def test_outage_of_known_length_is_measured_to_the_sample() -> None:
    # fault at 0.0; down for samples 0..19 (2.0 s); back at 2.0
    rto = measure(timeline(A, "-" * 20 + "+" * 10))
    assert rto.verdict is Verdict.PASSED
    assert rto.first_failed_at == 0.0
    assert rto.back_at == pytest.approx(2.0)
    assert rto.measured_s == 2.0
    assert rto.resolution_s is not None
    assert abs(rto.resolution_s - 0.1) < 1e-9
    assert rto.stable_at is not None
    assert abs(rto.stable_at - 2.2) < 1e-9  # the third consecutive success confirms it


def test_the_slowest_stream_decides() -> None:
    rto = measure(timeline(A, "--+++++++") + timeline(B, "-----+++++"), streams=(HEALTH_A, HEALTH_B))
    assert rto.back_at == pytest.approx(0.5)
    assert rto.first_success_at == pytest.approx(0.5)  # B's first success is the first moment both answer


def test_every_check_of_every_replica_must_recover() -> None:
    samples = timeline(A, "--++++++++") + timeline(A, "------++++", check="data")
    rto = measure(samples, streams=(HEALTH_A, f"data {A}"))
    assert rto.back_at == pytest.approx(0.6)


def test_flapping_does_not_count_as_stable_before_n_consecutive_successes() -> None:
    rto = measure(timeline(A, "---++-++-+++++"), consecutive=4)
    assert rto.back_at == pytest.approx(0.9)  # after the last flap at 0.8, not the first success at 0.3
    assert rto.first_success_at == pytest.approx(0.3)
    assert rto.verdict is Verdict.PASSED


def test_a_failure_after_confirmation_is_a_new_outage_not_a_longer_recovery() -> None:
    samples = timeline(A, "---+++++-++++")
    rto = measure(samples, consecutive=3)
    assert rto.back_at == pytest.approx(0.3)
    windows = failure_runs(samples)
    assert [(w.start, w.end) for w in windows] == [(0.0, pytest.approx(0.3)), (pytest.approx(0.8), pytest.approx(0.9))]
    assert len(sustained_outages(samples, consecutive=3)) == 1  # the lone failure at 0.8 is a blip


def test_a_streak_shorter_than_n_is_not_recovered() -> None:
    rto = measure(timeline(A, "-----++"), consecutive=3)
    assert rto.verdict is Verdict.FAILED
    assert rto.measured_s is None
    assert "did not answer 3 consecutive probes" in rto.reason


def test_a_stream_never_sampled_cannot_be_confirmed() -> None:
    rto = measure(timeline(A, "---+++++"), streams=(HEALTH_A, HEALTH_B))
    assert rto.verdict is Verdict.FAILED
    assert HEALTH_B in rto.reason


def test_never_seeing_the_fault_is_unknown_not_passed() -> None:
    rto = measure(timeline(A, "++++++++"))
    assert rto.verdict is Verdict.UNKNOWN
    assert "never saw the fault" in rto.reason
    assert rto.measured_s is None


def test_blips_alone_after_the_fault_are_unknown_not_a_recovery() -> None:
    # One failed probe in 1,200 (and a pair elsewhere) is what a loaded machine does without any fault.
    samples = timeline(A, "+" * 500 + "-" + "+" * 400 + "--" + "+" * 297, step=0.05)
    rto = measure(samples)
    assert rto.verdict is Verdict.UNKNOWN
    assert "never saw the fault as an outage: 3 failed probe(s)" in rto.reason
    assert rto.measured_s is None
    assert rto.first_failed_at is None
    sustained = samples[:903] + timeline(A, "---" + "+" * 10, start=903 * 0.05, step=0.05)
    assert measure(sustained, budget=100.0).verdict is Verdict.PASSED  # the same with three in a row


def test_samples_before_the_fault_are_ignored() -> None:
    before = timeline(A, "---", start=-1.0)
    rto = measure(before + timeline(A, "+++++"))
    assert rto.verdict is Verdict.UNKNOWN


def test_a_blip_before_a_slow_landing_fault_is_neither_detection_nor_recovery() -> None:
    # A graceful stop keeps serving for a while; one slow answer comes first, the real outage later.
    rto = measure(timeline(A, "+++-+++++++" + "-" * 20 + "+++++"))
    assert rto.first_failed_at == pytest.approx(1.1)
    assert rto.back_at == pytest.approx(3.1)


def test_recovery_is_not_confirmed_before_the_fault_landed() -> None:
    samples = timeline(A, "---++++++-----+++++")
    early = measure(samples)
    assert early.back_at == pytest.approx(0.3)
    landed = measure_rto(samples, streams=(HEALTH_A,), fault_at=0.0, consecutive=3, budget_s=10.0,
                         component="database", not_before=0.95)  # fmt: skip
    assert landed.back_at == pytest.approx(1.4)


def test_over_budget_fails() -> None:
    rto = measure(timeline(A, "-" * 30 + "+++"), budget=2.5)
    assert rto.measured_s == 3.0
    assert rto.verdict is Verdict.FAILED
    assert "budget 2.5s" in rto.reason


def test_slow_but_successful_probes_count_as_up() -> None:
    slow = [ProbeSample(A, 1.0 + i * 0.1, 0.0, True, 200, latency_s=0.4) for i in range(5)]
    rto = measure(timeline(A, "-" * 10) + slow)
    assert rto.back_at == pytest.approx(1.0)


def test_phases_are_seconds_after_the_fault() -> None:
    rto = measure(timeline(A, "--------++++", start=0.2))
    moments = [Moment("recovery_started", 0.5, 0.0), Moment("recovery_finished", 0.9, 0.0)]
    phases = rto_phases(rto, moments)
    assert phases["detected"] == pytest.approx(0.2)
    assert phases["recovery_started"] == pytest.approx(0.5)
    assert phases["recovery_finished"] == pytest.approx(0.9)
    assert phases["back"] == pytest.approx(1.0)


def test_an_outage_still_open_at_the_end_has_no_end() -> None:
    [window] = sustained_outages(timeline(A, "++---"), consecutive=3)
    assert window.end is None
    assert window.duration_s is None
    assert window.failed_samples == 3
    assert window.start_resolution_s == pytest.approx(0.1)


def test_an_outage_runs_from_sustained_failure_to_its_confirming_streak() -> None:
    """Lone failures before it and a short success streak inside it neither move its start nor end it."""
    samples = timeline(A, "++-+++----+-++-++++++")
    [window] = sustained_outages(samples, consecutive=3)
    assert window.start == pytest.approx(0.6)  # the first of four failures in a row; the lone one at 0.2 is a blip
    assert window.end == pytest.approx(1.5)  # the first of the three successes that confirm it is over
    assert window.failed_samples == 6
    assert window.start_resolution_s == pytest.approx(0.1)  # the true start lies after the success at 0.5
    assert window.end_resolution_s == pytest.approx(0.1)  # the true end lies after the failure at 1.4
    assert next((run.start, run.failed_samples) for run in failure_runs(samples)) == (pytest.approx(0.2), 1)


def test_overlapping_outages_of_several_streams_are_one_incident_and_blips_do_not_join_it() -> None:
    samples = timeline(A, "+++------+++++") + timeline(B, "+-+++------+++++++") + timeline(B, "-+++++", start=3.0)
    windows = sustained_outages(samples, consecutive=3)
    [incident] = incidents(windows)
    assert incident.start == pytest.approx(0.3)  # A's first sustained failure; B's lone failure at 0.1 is not in it
    assert incident.end == pytest.approx(1.1)  # B confirmed back last
    assert incident.streams == (HEALTH_A, HEALTH_B)


@given(st.lists(st.booleans(), min_size=1, max_size=80), st.integers(min_value=1, max_value=6))
def test_rto_properties(pattern: list[bool], consecutive: int) -> None:
    samples = timeline(A, "".join("+" if ok else "-" for ok in pattern))
    rto = measure(samples, consecutive=consecutive, budget=100.0)
    if all(pattern):
        assert rto.verdict is Verdict.UNKNOWN
        return
    runs = [i for i in range(len(pattern)) if not any(pattern[i : i + BLIP_RUN + 1]) and len(pattern[i:]) > BLIP_RUN
            and (i == 0 or pattern[i - 1])]  # fmt: skip
    if not runs:  # blips alone: never more than BLIP_RUN failures in a row
        assert rto.verdict is Verdict.UNKNOWN
        assert rto.measured_s is None
        return
    first_fail = runs[0]
    assert rto.first_failed_at is not None
    assert abs(rto.first_failed_at - first_fail * 0.1) < 1e-9
    if rto.back_at is None:
        assert rto.verdict is Verdict.FAILED
        return
    back = round(rto.back_at / 0.1)
    # back is a success that begins a streak of at least ``consecutive`` after a failure
    assert back > first_fail
    assert not pattern[back - 1]
    assert all(pattern[back : back + consecutive])
    # and no earlier streak after the first failure was long enough
    streak = 0
    for ok in pattern[first_fail:back]:
        streak = streak + 1 if ok else 0
        assert streak < consecutive
