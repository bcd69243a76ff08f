"""The users' view: error rate, outage and latency recovery from a request log."""

from __future__ import annotations

import math

import pytest

from chaos.measure.load import (
    UserRequest,
    error_rate,
    judge_error_rate,
    latency_bins,
    latency_recovery,
    load_summary,
    user_outage,
)
from chaos.measure.verdict import Verdict
from chaos.report.summary import users_view


def steady(start: float, end: float, *, per_s: int, seconds: float, ok: bool = True, error: str = "") -> list:
    """``per_s`` requests a second from ``start`` to ``end``, each taking ``seconds``."""
    count = round((end - start) * per_s)
    return [UserRequest(started=start + i / per_s, seconds=seconds, name="browse week", ok=ok,
                        status=200 if ok else 503, error=error) for i in range(count)]  # fmt: skip


def test_error_rate_counts_the_requests_that_started_in_the_window() -> None:
    requests = steady(0, 10, per_s=10, seconds=0.01) + steady(10, 11, per_s=10, seconds=0.01, ok=False, error="x")
    rate = error_rate(requests, 5, 11)
    assert (rate.requests, rate.failed) == (60, 10)
    assert rate.to_json()["error_rate_pct"] == pytest.approx(16.67)


@pytest.mark.parametrize(("failed", "verdict"), [(1, Verdict.PASSED), (5, Verdict.PASSED), (6, Verdict.FAILED)])
def test_error_rate_is_judged_against_its_limit(failed: int, verdict: Verdict) -> None:
    requests = steady(0, 10, per_s=10, seconds=0.01)
    requests[:failed] = [
        UserRequest(r.started, r.seconds, r.name, ok=False, error="refused") for r in requests[:failed]
    ]
    got, reason = judge_error_rate(error_rate(requests, 0, 10), 0.05, min_requests=20)
    assert got is verdict, reason
    assert f"{failed} of 100" in reason


def test_too_few_requests_prove_nothing() -> None:
    got, reason = judge_error_rate(error_rate(steady(0, 1, per_s=10, seconds=0.01), 0, 1), 0.05, min_requests=20)
    assert got is Verdict.UNKNOWN
    assert "only 10" in reason


def test_user_outage_runs_from_the_first_failed_start_to_the_last_failed_end() -> None:
    before = steady(0, 5, per_s=2, seconds=0.01, ok=False, error="HTTP 503")  # before the fault: not counted
    during = steady(10, 12, per_s=2, seconds=0.5, ok=False, error="refused")
    outage = user_outage(before + steady(5, 20, per_s=2, seconds=0.01) + during, after=5)
    assert outage is not None
    assert outage.first_failed == 10
    assert outage.last_failed_end == pytest.approx(12.0)  # the last failure started at 11.5 and took 0.5 s
    assert outage.failed == 4
    assert user_outage(steady(0, 5, per_s=2, seconds=0.01), after=0) is None


def test_latency_bins_count_timeouts_at_their_wait_and_failures_as_never_answered() -> None:
    answered = steady(0, 1, per_s=40, seconds=0.05)
    timed_out = [UserRequest(0.5, 5.0, "open event", ok=False, error="timeout")]
    refused = [UserRequest(0.5, 0.001, "open event", ok=False, error="refused")]
    (only,) = latency_bins(answered + timed_out + refused, start=0, end=1, bin_s=1)
    assert (only.requests, only.failed, only.answered) == (42, 2, 41)
    assert only.p95_s == 0.05  # 2 of 42 failed: within the 5% a p95 leaves out
    (worse,) = latency_bins(answered[:10] + timed_out + refused, start=0, end=1, bin_s=1)
    assert worse.p95_s == math.inf  # 1 of 12 never answered: more than 5%, no p95 within any threshold


@pytest.mark.parametrize("error", ["HTTP 503", "refused"])
def test_users_failing_fast_after_the_fault_are_no_latency_back(error: str) -> None:
    failing = steady(100, 140, per_s=10, seconds=0.005, ok=False, error=error)  # every request fails, fast
    result = latency_recovery(failing, recovered_at=100, observed_until=140, threshold_s=0.2, within_s=30, bin_s=1,
                              confirm_s=5)  # fmt: skip
    assert result.verdict is Verdict.FAILED, result.reason
    assert "more than 5% of the requests failed" in result.reason


def test_latency_back_at_the_start_of_the_first_good_run() -> None:
    slow = steady(100, 104, per_s=10, seconds=0.5)  # 4 s slow after recovery at 100
    fast = steady(104, 120, per_s=10, seconds=0.02)
    result = latency_recovery(slow + fast, recovered_at=100, observed_until=120, threshold_s=0.2, within_s=30,
                              bin_s=1, confirm_s=5)  # fmt: skip
    assert result.verdict is Verdict.PASSED, result.reason
    assert result.back_after_s == 4
    assert "to within one 1s bin" in result.reason


def test_latency_not_back_by_the_deadline_fails() -> None:
    slow = steady(100, 140, per_s=10, seconds=0.5)
    result = latency_recovery(slow, recovered_at=100, observed_until=140, threshold_s=0.2, within_s=30, bin_s=1,
                              confirm_s=5)  # fmt: skip
    assert result.verdict is Verdict.FAILED
    assert "worst p95 500 ms" in result.reason


def test_a_good_run_must_start_in_time_and_last() -> None:
    # Back only 32 s after recovery: too late for a 30 s deadline.
    late = steady(100, 132, per_s=10, seconds=0.5) + steady(132, 140, per_s=10, seconds=0.02)
    result = latency_recovery(late, recovered_at=100, observed_until=140, threshold_s=0.2, within_s=30, bin_s=1,
                              confirm_s=5)  # fmt: skip
    assert result.verdict is Verdict.FAILED
    # Good for 3 s, then a slow second: the run of 5 s is not there yet; not observed long enough to tell.
    broken = steady(100, 103, per_s=10, seconds=0.02) + steady(103, 104, per_s=10, seconds=0.5)
    broken += steady(104, 107, per_s=10, seconds=0.02)
    result = latency_recovery(broken, recovered_at=100, observed_until=107, threshold_s=0.2, within_s=30, bin_s=1,
                              confirm_s=5)  # fmt: skip
    assert result.verdict is Verdict.UNKNOWN
    assert "observed for only 7s" in result.reason


def test_thin_bins_are_not_evidence_of_latency_back() -> None:
    thin = steady(100, 140, per_s=2, seconds=0.02)  # 2 answers a second: fewer than min_requests
    result = latency_recovery(thin, recovered_at=100, observed_until=140, threshold_s=0.2, within_s=30, bin_s=1,
                              confirm_s=5, min_requests=5)  # fmt: skip
    assert result.verdict is Verdict.FAILED
    assert "fewer than 5 answers" in result.reason


def test_summary_and_the_users_view_line() -> None:
    requests = steady(0, 10, per_s=5, seconds=0.02) + steady(10, 12, per_s=5, seconds=0.01, ok=False, error="refused")
    requests += steady(12, 20, per_s=5, seconds=0.03)
    summary = load_summary(requests, users=50, phases={"before": (0, 10), "during": (10, 12), "after": (12, 99)},
                           fault_at=10)  # fmt: skip
    assert summary["phases"]["during"]["failed"] == 10
    assert summary["phases"]["after"]["latency_ms"]["p95"] == 30.0
    assert summary["failures"] == {"refused": 10}
    summary["prober_rto_s"] = 1.5
    line = users_view(summary)
    assert "50 users, 100 requests, 10 failed" in line
    assert "their outage 1.81s from +0.00s" in line
    assert "[10 refused]" in line
    assert "the prober's RTO 1.50s" in line
    assert users_view({}) == ""
