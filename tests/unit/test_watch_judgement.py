"""``drill watch``'s judgement of a timeline: a degraded period is an outage whatever its runs, and the same
ground truth gives the same verdict however its edges fall against the probes."""

from __future__ import annotations

import pytest

from chaos.config import DEFAULT_BUDGETS, load_budgets
from chaos.measure.probe import ProbeSample
from chaos.measure.rto import degraded_outages
from chaos.measure.verdict import Verdict, worst
from chaos.watch import judge_samples

A, B = "http://a", "http://b"
STEP = 0.05  # the watcher's probe interval
BUDGETS = load_budgets(DEFAULT_BUDGETS, "sandbox")  # availability 1 % in 10 s; application RTO 30 s


def stream(target: str, pattern: str, start: float = 0.0) -> list[ProbeSample]:
    """One health probe per character, every STEP seconds: '+' answered, '-' failed."""
    return [ProbeSample(target, start + i * STEP, 5000 + start + i * STEP, char == "+", 200 if char == "+" else 503,
                        0.01, "" if char == "+" else "HTTP 503", "health", "" if char == "+" else "5xx")
            for i, char in enumerate(pattern)]  # fmt: skip


def flap(run: int, seconds: float, *, quiet_before: int = 200, quiet_after: int = 400, shift: int = 0) -> str:
    """Quiet, then ``seconds`` failing half the probes in runs of ``run``, then quiet; ``shift`` probes later."""
    probes = round(seconds / STEP)
    middle = "".join("-" * run + "+" * run for _ in range(probes // (2 * run)))
    return "+" * (quiet_before + shift) + middle + "+" * (quiet_after - shift)


def verdict(pattern: str, budgets: object = BUDGETS) -> tuple[Verdict, int]:
    samples = stream(A, pattern) + stream(B, "+" * len(pattern))
    _, outages, _, availability = judge_samples(samples, streams=(f"health {A}", f"health {B}"), replicas=(A, B),
                                                budgets=budgets, component="application", consecutive=5)  # type: ignore[arg-type]  # fmt: skip
    return worst([availability.verdict, *(rto.verdict for _, rto in outages)]), len(outages)


@pytest.mark.parametrize("run", [1, 2, 3, 4])
def test_a_flap_is_one_outage_whatever_the_length_of_its_runs(run: int) -> None:
    # Half the probes failing for 10 s: in runs of 2 the old judgement never saw an outage and failed the
    # availability; in runs of 3 it saw one outage and passed it. Now each is one outage of about 10 s,
    # within the 30 s RTO, and the availability outside it holds.
    assert verdict(flap(run, 10.0)) == (Verdict.PASSED, 1)


@pytest.mark.parametrize("shift", [0, 1, 2, 3])
def test_shifting_a_timeline_by_a_probe_interval_keeps_its_verdict(shift: int) -> None:
    assert verdict(flap(2, 10.0, shift=shift)) == verdict(flap(2, 10.0))
    assert verdict(flap(3, 10.0, shift=shift)) == verdict(flap(3, 10.0))


def test_a_flap_longer_than_the_rto_fails_whatever_its_runs() -> None:
    for run in (2, 3):
        assert verdict(flap(run, 40.0))[0] is Verdict.FAILED


def test_a_lone_blip_in_a_quiet_stream_is_no_degraded_period() -> None:
    pattern = "+" * 400 + "-" + "+" * 400  # 1 failure in 200 probes of any 10 s: 0.5 %, within 1 %
    assert degraded_outages(stream(A, pattern), consecutive=5, max_failed=0.01, window_s=10.0) == []
    assert verdict(pattern) == (Verdict.PASSED, 0)


def test_a_degraded_period_spans_from_its_first_failure_to_the_streak_after_its_last() -> None:
    pattern = "+" * 400 + "-+-+--+" + "+" * 400  # 4 failures within 7 probes: above 1 % of any 10 s
    [window] = degraded_outages(stream(A, pattern), consecutive=5, max_failed=0.01, window_s=10.0)
    assert window.start == pytest.approx(400 * STEP)
    assert window.end == pytest.approx(406 * STEP)  # the first of the 5 answers in a row after the last failure
    assert window.failed_samples == 4
