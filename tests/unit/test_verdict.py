"""Verdicts compose worst-of, and nothing judged is never a pass."""

from __future__ import annotations

from chaos.measure.verdict import Verdict, worst


def test_worst_of_orders_passed_unknown_failed() -> None:
    assert worst([Verdict.PASSED, Verdict.PASSED]) is Verdict.PASSED
    assert worst([Verdict.PASSED, Verdict.UNKNOWN]) is Verdict.UNKNOWN
    assert worst([Verdict.UNKNOWN, Verdict.FAILED, Verdict.PASSED]) is Verdict.FAILED


def test_nothing_to_judge_is_unknown() -> None:
    assert worst([]) is Verdict.UNKNOWN
