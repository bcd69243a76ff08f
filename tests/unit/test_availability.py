"""Availability per replica: a failure rate in a sliding window catches what runs of failures miss."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaos.measure.availability import measure_availability
from chaos.measure.probe import ProbeSample
from chaos.measure.rto import BLIP_RUN, failure_runs
from chaos.measure.verdict import Verdict

A, B = "http://127.0.0.1:1", "http://127.0.0.1:2"
HZ = 20


def stream(replica: str, pattern: list[bool], check: str = "health", start: float = 0.0) -> list[ProbeSample]:
    """One sample per 1/HZ seconds; ``pattern[i]`` says whether probe ``i`` succeeded."""
    return [
        ProbeSample(replica, start + i / HZ, 1000.0 + start + i / HZ, ok, 200 if ok else None, 0.001,
                    "" if ok else "timeout: no answer", check, "" if ok else "timeout")
        for i, ok in enumerate(pattern)
    ]  # fmt: skip


def judge(samples: list[ProbeSample], replicas: tuple[str, ...] = (A,), **kwargs: object) -> Verdict:
    return measure_availability(samples, replicas=replicas, max_failed=0.01, window_s=10.0, **kwargs).verdict  # type: ignore[arg-type]


def test_a_replica_failing_every_other_probe_fails_though_it_never_has_an_outage() -> None:
    samples = stream(A, [i % 2 == 0 for i in range(20 * HZ)]) + stream(A, [True] * 20 * HZ, "data")
    assert max(window.failed_samples for window in failure_runs(samples)) <= BLIP_RUN  # no run to judge
    result = measure_availability(samples, replicas=(A,), max_failed=0.01, window_s=10.0)
    [replica] = result.replicas
    assert result.verdict is Verdict.FAILED
    assert replica.failed == 200
    assert replica.failures == {"timeout": 200}
    assert replica.worst_fraction == pytest.approx(0.25, abs=0.002)  # half the health probes, no data probe
    assert "200 of 800 probes failed (200 timeout)" in replica.reason


def test_a_few_scattered_failures_stay_within_one_percent() -> None:
    pattern = [i not in (40, 300) for i in range(20 * HZ)]
    samples = stream(A, pattern) + stream(A, [True] * 20 * HZ, "data")
    result = measure_availability(samples, replicas=(A,), max_failed=0.01, window_s=10.0)
    assert result.verdict is Verdict.PASSED
    assert result.replicas[0].worst_failed == 1


def test_failures_bunched_in_one_window_fail_though_the_whole_run_is_under_budget() -> None:
    pattern = [i not in range(200, 260, 10) for i in range(60 * HZ)]  # 6 failures within 3 s, in a minute
    samples = stream(A, pattern)
    assert sum(not s.ok for s in samples) / len(samples) < 0.01
    assert judge(samples) is Verdict.FAILED


def test_each_replica_is_judged_on_its_own_probes() -> None:
    samples = stream(A, [True] * 400) + stream(B, [i % 3 != 0 for i in range(400)])
    result = measure_availability(samples, replicas=(A, B), max_failed=0.01, window_s=10.0)
    assert [replica.verdict for replica in result.replicas] == [Verdict.PASSED, Verdict.FAILED]
    assert result.verdict is Verdict.FAILED
    assert result.reason.startswith(f"{A}: 0 of 400 probes failed")


def test_time_inside_a_judged_outage_is_left_out() -> None:
    pattern = [not 100 <= i < 160 for i in range(400)]  # down from 5 s to 8 s
    samples = stream(A, pattern)
    assert judge(samples) is Verdict.FAILED
    assert judge(samples, exclude=[(5.0, 8.0)]) is Verdict.PASSED


def test_an_observation_shorter_than_the_window_is_one_window() -> None:
    result = measure_availability(stream(A, [i != 5 for i in range(60)]), replicas=(A,), max_failed=0.01,
                                  window_s=10.0)  # fmt: skip
    [replica] = result.replicas
    assert (replica.worst_failed, replica.worst_probes) == (1, 60)
    assert replica.verdict is Verdict.FAILED  # 1 in 60 is 1.7 %


def test_a_replica_without_probes_is_unknown() -> None:
    assert judge(stream(B, [True] * 10), replicas=(A,)) is Verdict.UNKNOWN


def _naive_worst(samples: list[ProbeSample], window: float) -> float:
    last = samples[-1].mono
    windows = [[s for s in samples if first.mono <= s.mono < first.mono + window]
               for first in samples if first.mono + window <= last]  # fmt: skip
    windows.append([s for s in samples if s.mono > last - window])
    return max(sum(not s.ok for s in own) / len(own) for own in windows)


@given(st.lists(st.booleans(), min_size=1, max_size=400), st.floats(0.05, 25))
def test_the_worst_window_is_the_worst_of_every_window(pattern: list[bool], window: float) -> None:
    samples = stream(A, pattern)
    result = measure_availability(samples, replicas=(A,), max_failed=0.01, window_s=window)
    [replica] = result.replicas
    assert abs(replica.worst_fraction - _naive_worst(samples, window)) < 1e-12
    assert (replica.worst_failed > 0) == (replica.failed > 0)  # no failed probe falls outside every window
