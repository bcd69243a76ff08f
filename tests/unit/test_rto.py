"""RTO arithmetic on known probe timelines."""

from __future__ import annotations

from chaos.measure.probe import ProbeSample
from chaos.measure.rto import measure_rto
from chaos.measure.verdict import Verdict

A, B = "http://a", "http://b"


def timeline(target: str, pattern: str, start: float = 0.0, step: float = 0.1) -> list[ProbeSample]:
    """One sample per character: '+' healthy, '-' failed, every ``step`` seconds from ``start``."""
    return [
        ProbeSample(target, start + i * step, 1000 + start + i * step, char == "+", 200 if char == "+" else 503, 0.01)
        for i, char in enumerate(pattern)
    ]


def measure(samples: list[ProbeSample], targets: tuple[str, ...] = (A,), consecutive: int = 3, budget: float = 10.0):
    return measure_rto(samples, targets=targets, fault_at=0.0, consecutive=consecutive, budget_s=budget,
                       component="database")  # fmt: skip


def test_outage_of_known_length_is_measured_to_the_sample() -> None:
    # fault at 0.0; down for samples 0..19 (2.0 s); back at 2.0
    rto = measure(timeline(A, "-" * 20 + "+" * 10))
    assert rto.verdict is Verdict.PASSED
    assert rto.first_failed_at == 0.0
    assert rto.back_at == 2.0
    assert rto.measured_s == 2.0
    assert abs(rto.resolution_s - 0.1) < 1e-9
    assert abs(rto.stable_at - 2.2) < 1e-9  # the third consecutive success confirms it


def test_the_slowest_replica_decides() -> None:
    rto = measure(timeline(A, "--+++++++") + timeline(B, "-----+++++"), targets=(A, B))
    assert rto.back_at == 0.5
    assert rto.measured_s == 0.5


def test_flapping_does_not_count_as_stable_before_n_consecutive_successes() -> None:
    rto = measure(timeline(A, "---++-++-+++++"), consecutive=4)
    assert rto.back_at == 0.9  # after the last failure at 0.8, not the first success at 0.3
    assert rto.verdict is Verdict.PASSED


def test_a_final_run_shorter_than_n_is_not_recovered() -> None:
    rto = measure(timeline(A, "-----++"), consecutive=3)
    assert rto.verdict is Verdict.FAILED
    assert rto.measured_s is None
    assert "did not answer 3 consecutive probes" in rto.reason


def test_never_seeing_the_fault_is_unknown_not_passed() -> None:
    rto = measure(timeline(A, "++++++++"))
    assert rto.verdict is Verdict.UNKNOWN
    assert "never saw the fault" in rto.reason
    assert rto.measured_s is None


def test_samples_before_the_fault_are_ignored() -> None:
    before = timeline(A, "---", start=-1.0)
    rto = measure(before + timeline(A, "+++++"))
    assert rto.verdict is Verdict.UNKNOWN


def test_over_budget_fails() -> None:
    rto = measure(timeline(A, "-" * 30 + "+++"), budget=2.5)
    assert rto.measured_s == 3.0
    assert rto.verdict is Verdict.FAILED
    assert "budget 2.5s" in rto.reason


def test_slow_but_successful_probes_count_as_up() -> None:
    slow = [ProbeSample(A, 1.0 + i * 0.1, 0.0, True, 200, latency_s=0.4) for i in range(5)]
    rto = measure(timeline(A, "-" * 10) + slow)
    assert rto.back_at == 1.0
