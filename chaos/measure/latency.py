"""Latency percentiles from probe samples, counting the probes that never answered in time.

A probe that timed out took at least its timeout: leaving it out would report
the latency of the answers that came, not of the service. Refused and failed
probes have no latency worth counting; availability judges them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from chaos.measure.probe import ProbeSample

__all__ = ["latencies", "percentile"]


def latencies(samples: Sequence[ProbeSample], *, timeout: float, check: str = "health") -> list[float]:
    """Seconds per probe of ``check``: its latency, or at least ``timeout`` if it timed out."""
    return sorted(
        max(sample.latency_s, timeout) if sample.timed_out else sample.latency_s
        for sample in samples
        if sample.check == check and (sample.ok or sample.timed_out)
    )


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q``-th percentile (0 < q <= 100) of sorted ``values``; None when there are none."""
    if not values:
        return None
    return values[max(0, math.ceil(q / 100 * len(values)) - 1)]
