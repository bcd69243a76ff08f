"""Verdicts compose worst-of, and nothing judged or a crashing checker is never a pass."""

from __future__ import annotations

from chaos.measure.verdict import Verdict, checked, worst


def test_worst_of_orders_passed_unknown_failed() -> None:
    assert worst([Verdict.PASSED, Verdict.PASSED]) is Verdict.PASSED
    assert worst([Verdict.PASSED, Verdict.UNKNOWN]) is Verdict.UNKNOWN
    assert worst([Verdict.UNKNOWN, Verdict.FAILED, Verdict.PASSED]) is Verdict.FAILED


def test_nothing_to_judge_is_unknown() -> None:
    assert worst([]) is Verdict.UNKNOWN


def test_a_checker_that_raises_is_unknown_with_its_error() -> None:
    def broken() -> Verdict:
        raise KeyError("rto")

    verdict, reason = checked(broken)
    assert verdict is Verdict.UNKNOWN
    assert "KeyError" in reason
    assert checked(lambda: Verdict.PASSED) == (Verdict.PASSED, "")
