"""Monitoring's recovery time, seen through the monitoring server's own account of its scrapes.

Monitoring works when Prometheus answers and its latest scrape of every app
replica succeeded. A watcher polls Prometheus's targets API; each answer
carries, per replica, when the last scrape started (by the server's clock, the
same host's clock here), how long it took, and whether it succeeded.

After a fault, only scrapes that *started* after it count. A scrape is known
by the server's own start timestamp: polls that see the same timestamp see the
same scrape, however their own clock readings jitter. Monitoring is *back* at
the end of the first successful post-fault scrape of the last replica to get
one, and *confirmed* once every replica has ``scrapes`` successful post-fault
scrapes with no failed one since its first. RTO is fault -> back, the scrape's
end placed on this machine's monotonic clock through the fault's own (wall,
monotonic) pair; its resolution is one scrape interval (monitoring may have
been able to scrape up to that much earlier). A failed scrape of a replica restarts
its count; an unanswered API after some replica had recovered restarts all.
If monitoring never looked broken after the fault, the verdict is ``unknown``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from chaos.measure.evidence import write_jsonl
from chaos.measure.rto import RtoMeasurement
from chaos.measure.verdict import Verdict
from chaos.servers.prometheus import ScrapeTarget, scrape_targets

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence
    from pathlib import Path

__all__ = ["MonitoringSample", "MonitoringWatcher", "measure_monitoring_rto"]


@dataclass(frozen=True)
class MonitoringSample:
    mono: float
    wall: float
    error: str  # empty when the API answered
    targets: tuple[ScrapeTarget, ...] = ()

    @property
    def answered(self) -> bool:
        return not self.error

    def working(self, expected: Collection[str]) -> bool:
        """The API answered and the latest scrape of every expected replica succeeded."""
        up = {target.address for target in self.targets if target.up}
        return self.answered and bool(expected) and set(expected) <= up


class MonitoringWatcher:
    """Polls a Prometheus server's targets API every ``interval`` seconds until stopped.

    ``expected``: the replicas (host:port) monitoring must scrape, as deployed when watching began;
    a recovery that never brings them back leaves monitoring broken, not without anything to judge.
    """

    def __init__(self, api: str, expected: Collection[str], *, interval: float = 0.1, timeout: float = 0.5) -> None:
        self.api = api
        self.expected = frozenset(expected)
        self.interval = interval
        self.timeout = timeout
        self._samples: list[MonitoringSample] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"monitoring watcher {api}", daemon=True)

    def start(self) -> MonitoringWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join(timeout=self.timeout + 1)

    def samples(self) -> list[MonitoringSample]:
        with self._lock:
            return list(self._samples)

    def latest(self) -> MonitoringSample | None:
        with self._lock:
            return self._samples[-1] if self._samples else None

    def _run(self) -> None:
        with httpx.Client() as client:
            while not self._stop.is_set():
                mono, wall = time.monotonic(), time.time()
                try:
                    sample = MonitoringSample(mono, wall, "", tuple(scrape_targets(self.api, timeout=self.timeout,
                                                                                   client=client)))  # fmt: skip
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    sample = MonitoringSample(mono, wall, f"{type(exc).__name__}: {exc}")
                with self._lock:
                    self._samples.append(sample)
                self._stop.wait(max(0.0, mono + self.interval - time.monotonic()))

    def save(self, path: Path) -> Path:
        """Write what the watcher saw as JSON lines, one poll a line."""
        return write_jsonl(path, (asdict(sample) for sample in self.samples()))


@dataclass
class _Replica:
    successes: list[float] = field(default_factory=list)  # post-fault successful scrapes: the server's start times
    first_back: float | None = None  # the end of the first of them, wall seconds


def measure_monitoring_rto(
    samples: Sequence[MonitoringSample],
    *,
    expected: Collection[str],
    fault_at: float,
    fault_wall: float,
    budget_s: float,
    scrape_interval: float,
    scrapes: int = 2,
) -> RtoMeasurement:
    """Judge monitoring's recovery from the watcher's samples; ``expected``: replica addresses (host:port).

    ``fault_at`` and ``fault_wall``: the fault's moment on the monotonic and the wall clock.
    """

    def result(verdict: Verdict, reason: str, **found: Any) -> RtoMeasurement:
        values: dict[str, Any] = {"first_failed_at": None, "first_success_at": None, "back_at": None,
                                  "stable_at": None, "measured_s": None, "resolution_s": None} | found  # fmt: skip
        return RtoMeasurement("monitoring", fault_at, budget_s=budget_s, verdict=verdict, reason=reason, **values)

    if not expected:
        return result(Verdict.UNKNOWN, "no app replica to be scraped: nothing to judge monitoring by")
    after = sorted((sample for sample in samples if sample.mono >= fault_at), key=lambda sample: sample.mono)
    first_failed = next((sample.mono for sample in after if not sample.working(expected)), None)
    if first_failed is None:
        return result(Verdict.UNKNOWN, "monitoring never looked broken after the fault: every replica was "
                                       "scraped successfully throughout")  # fmt: skip
    replicas = {address: _Replica() for address in expected}
    for sample in after:
        if not sample.answered:
            if any(replica.successes for replica in replicas.values()):
                replicas = {address: _Replica() for address in expected}
            continue
        for target in sample.targets:
            replica, started = replicas.get(target.address), target.last_scrape_wall
            if replica is None or started is None or started < fault_wall:
                continue
            if not target.up:
                replicas[target.address] = _Replica()
            elif not replica.successes or started > replica.successes[-1]:
                replica.successes.append(started)
                if replica.first_back is None:
                    replica.first_back = started + target.last_scrape_duration_s
        if all(len(replica.successes) >= scrapes for replica in replicas.values()):
            measured = max(replica.first_back or sample.wall for replica in replicas.values()) - fault_wall
            back = fault_at + measured
            verdict = Verdict.PASSED if measured <= budget_s else Verdict.FAILED
            return result(
                verdict, f"every replica scraped successfully again {measured:.2f}s after the fault "
                         f"(budget {budget_s:g}s)",
                first_failed_at=first_failed, first_success_at=back, back_at=back, stable_at=sample.mono,
                measured_s=measured, resolution_s=scrape_interval,
            )  # fmt: skip
    observed = (after[-1].mono if after else fault_at) - fault_at
    short = sorted(address for address, replica in replicas.items() if len(replica.successes) < scrapes)
    return result(
        Verdict.FAILED,
        f"{', '.join(short)} not scraped successfully {scrapes} times by the end of observation, "
        f"{observed:.2f}s after the fault (budget {budget_s:g}s)",
        first_failed_at=first_failed,
    )  # fmt: skip
