"""Latency percentiles from probe samples, counting the probes that never answered in time.

A probe that timed out took at least its timeout: leaving it out would report
the latency of the answers that came, not of the service. Refused and failed
probes have no latency worth counting; availability judges them.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from chaos.measure.probe import ProbeSample

__all__ = ["latencies", "percentile", "probe_summary"]


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


def probe_summary(
    samples: Sequence[ProbeSample], *, replicas: Sequence[str], timeout: float, phases: dict[str, tuple[float, float]]
) -> dict[str, dict[str, dict[str, Any]]]:
    """Per replica and phase (name -> [start, end) monotonic): probes, failures per kind, health latency.

    What counted as down is in ``failures``: refused, timeout (no answer within the probe's timeout),
    dropped, 5xx, 4xx, wrong-answer (a stale or garbled read), error.
    """
    summary: dict[str, dict[str, dict[str, Any]]] = {}
    for replica in replicas:
        own = [sample for sample in samples if sample.target == replica]
        summary[replica] = {}
        for phase, (start, end) in phases.items():
            inside = [sample for sample in own if start <= sample.mono < end]
            health = latencies(inside, timeout=timeout)
            summary[replica][phase] = {
                "probes": len(inside),
                "failed": sum(not sample.ok for sample in inside),
                "failures": dict(Counter(sample.failure for sample in inside if not sample.ok)),
                "health_ms": {f"p{q}": None if (value := percentile(health, q)) is None else round(value * 1000, 1)
                              for q in (50, 95, 99)},
            }  # fmt: skip
    return summary
