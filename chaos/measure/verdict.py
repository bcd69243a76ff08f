"""Verdicts compose worst-of: passed < unknown < failed."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["Verdict", "worst"]


class Verdict(enum.Enum):
    PASSED = "passed"
    UNKNOWN = "unknown"
    FAILED = "failed"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Verdict.PASSED: 0, Verdict.UNKNOWN: 1, Verdict.FAILED: 2}


def worst(verdicts: Iterable[Verdict]) -> Verdict:
    """The worst of ``verdicts``; nothing to judge is ``unknown``, never a pass."""
    found = list(verdicts)
    if not found:
        return Verdict.UNKNOWN
    return max(found, key=lambda verdict: verdict.rank)
