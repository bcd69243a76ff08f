"""Samples every replica from outside, per check, at a fixed rate that does not wait for answers.

Two checks per replica:
- ``health``: ``GET /health`` answers 200;
- ``data``: writes and reads through the app, alternating probe by probe:
  ``PUT /users/<probe user>`` with the probe's number (creating the user if a
  restore took it away), then ``GET`` of that user. Writes may overlap, and the
  server may apply overlapping ones in either order, so a read is wrong only if
  it returns a value that some later write had provably replaced before the
  read was sent: one written, and acknowledged, entirely after that value's own
  write was acknowledged. A restore that rolled the record back fails the read:
  the data path is judged by what it returns, not only by its status.

Each stream (a check of a replica) sends a probe every ``interval`` seconds
whether or not earlier ones have answered, up to ``max_in_flight`` at once.
Each probe has its own ``timeout`` (default 2 s): a slow answer is an answer,
recorded with its latency; only no answer within the timeout is a failure. A
probe's outcome is attributed to the moment it was sent. A failed probe says how
it failed (``FAILURES``); an answer the prober cannot parse is a wrong answer,
never the end of its stream. ``samples()`` returns only the settled past: every
probe sent before the oldest one still in flight.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from chaos.measure.evidence import write_jsonl
from chaos.measure.http import HttpClient, RequestError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

__all__ = ["CHECKS", "DEFAULT_TIMEOUT_S", "FAILURES", "ProbeSample", "Prober"]

CHECKS = ("health", "data")
DEFAULT_TIMEOUT_S = 2.0
# How a probe failed: no connection, no answer within the timeout, connection lost mid-request,
# an HTTP error status, an answer that is not what was written; "error": the probe itself broke.
FAILURES = ("refused", "timeout", "dropped", "5xx", "4xx", "wrong-answer", "error")


@dataclass(frozen=True)
class ProbeSample:
    target: str
    mono: float  # when the probe was sent
    wall: float
    ok: bool
    status: int | None
    latency_s: float
    error: str = ""
    check: str = "health"
    failure: str = ""  # one of FAILURES when not ok

    @property
    def stream(self) -> str:
        return f"{self.check} {self.target}"

    @property
    def timed_out(self) -> bool:
        return self.failure == "timeout"


_Outcome = tuple[int, str, str]  # status, error (empty: ok), failure kind


def _http_error(status: int, body: bytes, what: str = "") -> _Outcome:
    return status, f"{what}HTTP {status}: {body[:200].decode(errors='replace')}", "5xx" if status >= 500 else "4xx"


@dataclass
class _DataPath:
    """What one replica's data stream has written, so its reads can be checked."""

    user_id: str
    writes: dict[int, tuple[float, float]] = field(default_factory=dict)  # acknowledged: number -> (sent, acked)
    numbers: list[int] = field(default_factory=list)  # the same numbers, in order
    lock: threading.Lock = field(default_factory=threading.Lock)

    def acknowledged(self, number: int, sent: float, acked: float) -> None:
        self.writes[number] = (sent, acked)
        bisect.insort(self.numbers, number)

    def replaced_before(self, number: int, moment: float) -> int | None:
        """A write sent after ``number``'s was acknowledged, and itself acknowledged before ``moment``."""
        own = self.writes.get(number)
        if own is None:
            return None  # never acknowledged: it may have landed at any time
        for other in self.numbers[bisect.bisect_right(self.numbers, number) :]:  # later numbers: sent later
            sent, acked = self.writes[other]
            if sent > own[1] and acked < moment:
                return other
        return None


class _Stream:
    """One check of one replica: its probes in flight and its idle keep-alive connections."""

    def __init__(self, url: str, check: str, index: int, run_id: str, max_in_flight: int) -> None:
        self.url, self.check = url, check
        self.name = f"{check} {url}"
        self.data = _DataPath(f"drill-probe-{run_id}-{index}")
        self.numbers = itertools.count()
        self.in_flight: dict[int, float] = {}  # probe number -> when it was handed to a worker
        self.idle: list[HttpClient] = []
        self.workers = ThreadPoolExecutor(max_in_flight, thread_name_prefix=f"probe {self.name}")


class Prober:
    """Samples ``checks`` on every url every ``interval`` seconds until stopped."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        interval: float = 0.05,
        timeout: float | None = None,
        checks: Sequence[str] = CHECKS,
        run_id: str = "probe",
        max_in_flight: int | None = None,
    ) -> None:
        timeout = DEFAULT_TIMEOUT_S if timeout is None else timeout
        if not (math.isfinite(interval) and interval > 0 and math.isfinite(timeout) and timeout > 0):
            raise ValueError(f"need a positive interval and timeout, got interval {interval} and timeout {timeout}")
        unknown = set(checks) - set(CHECKS)
        if unknown:
            raise ValueError(f"unknown probe checks {sorted(unknown)}; known: {', '.join(CHECKS)}")
        self.urls = tuple(urls)
        self.interval = interval
        self.timeout = timeout
        # Enough that a probe only waits for a slot when the ones before it are past their timeout.
        self.max_in_flight = max_in_flight or math.ceil(timeout / interval) + 1
        self.checks = tuple(checks)
        self.run_id = run_id
        self.skipped: Counter[str] = Counter()  # per stream: ticks with every slot in flight, so nothing sent
        self._samples: list[ProbeSample] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._closed = False
        self._streams = [_Stream(url, check, index, run_id, self.max_in_flight)
                         for index, url in enumerate(self.urls) for check in self.checks]  # fmt: skip
        self._schedulers = [threading.Thread(target=self._schedule, args=(stream,), name=f"schedule {stream.name}",
                                             daemon=True) for stream in self._streams]  # fmt: skip

    @property
    def streams(self) -> tuple[str, ...]:
        return tuple(stream.name for stream in self._streams)

    def start(self) -> Prober:
        for thread in self._schedulers:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop sending; wait for the probes in flight, and log any that outlive their timeout as timed out."""
        self._stop.set()
        for thread in self._schedulers:
            if thread.ident is not None:  # started
                thread.join(timeout=self.interval + 1)
        deadline = time.monotonic() + self.timeout + 1
        while time.monotonic() < deadline and any(stream.in_flight for stream in self._streams):
            time.sleep(0.01)
        with self._lock:
            self._closed = True
            for stream in self._streams:
                for sent in stream.in_flight.values():
                    self._samples.append(ProbeSample(stream.url, sent, time.time() - (time.monotonic() - sent),
                                                     False, None, self.timeout, "still unanswered when the prober "
                                                     "stopped", stream.check, "timeout"))  # fmt: skip
                stream.in_flight.clear()
        for stream in self._streams:
            stream.workers.shutdown(wait=False, cancel_futures=True)
            for client in stream.idle:
                client.close()

    def samples(self) -> list[ProbeSample]:
        """Every probe sent before the oldest one still in flight, by the time it was sent."""
        with self._lock:
            pending = [sent for stream in self._streams for sent in stream.in_flight.values()]
            horizon = min(pending, default=math.inf)
            return sorted((sample for sample in self._samples if sample.mono < horizon), key=lambda s: s.mono)

    def _schedule(self, stream: _Stream) -> None:
        probe = self._health if stream.check == "health" else self._data_path
        next_at = time.monotonic()
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            number = next(stream.numbers)
            with self._lock:
                full = len(stream.in_flight) >= self.max_in_flight
                if not full:
                    stream.in_flight[number] = time.monotonic()
            if full:
                self.skipped[stream.name] += 1
            else:
                stream.workers.submit(self._send, stream, number, probe)
            next_at += self.interval
            if next_at < time.monotonic() - self.interval:  # this thread was starved: skip, never burst
                next_at = time.monotonic()

    def _send(self, stream: _Stream, number: int, probe: Callable[[HttpClient, _Stream, int], _Outcome]) -> None:
        with self._lock:
            client = stream.idle.pop() if stream.idle else HttpClient(stream.url, self.timeout)
        mono, wall = time.monotonic(), time.time()
        try:
            status, error, failure = probe(client, stream, number)
        except RequestError as exc:
            status, error, failure = None, str(exc), exc.kind
        except Exception as exc:  # a probe that breaks is a failed sample, never a dead stream
            status, error, failure = None, f"{type(exc).__name__}: {exc}", "error"
        latency = time.monotonic() - mono
        sample = ProbeSample(stream.url, mono, wall, not error, status, latency, error, stream.check, failure)
        with self._lock:
            if self._closed:  # stop() has logged this probe as timed out; an answer this late does not count
                client.close()
                return
            stream.in_flight.pop(number, None)
            self._samples.append(sample)
            stream.idle.append(client)

    def _health(self, client: HttpClient, _stream: _Stream, _number: int) -> _Outcome:
        status, body = client.request("GET", "/health")
        if status != 200:
            return _http_error(status, body)
        return status, "", ""

    def _data_path(self, client: HttpClient, stream: _Stream, number: int) -> _Outcome:
        state = stream.data
        sent = time.monotonic()
        with state.lock:
            written_yet = bool(state.writes)
        if number % 2 == 0 or not written_yet:
            return self._write(client, state, number, sent)
        status, body = client.request("GET", f"/users/{state.user_id}")
        if status != 200:
            return _http_error(status, body, "read: ")
        try:
            read = json.loads(body).get("name")
            written = int(str(read).removeprefix("probe "))
        except (ValueError, AttributeError):
            return status, f"read: not a probe's value: {body[:200].decode(errors='replace')!r}", "wrong-answer"
        with state.lock:
            newer = state.replaced_before(written, sent)
        if newer is not None:
            return status, f"read returned probe {written}; probe {newer} had replaced it", "wrong-answer"
        return status, "", ""

    def _write(self, client: HttpClient, state: _DataPath, number: int, sent: float) -> _Outcome:
        status, body = client.request("PUT", f"/users/{state.user_id}", {"name": f"probe {number}"})
        if status == 404:
            user = {"id": state.user_id, "name": f"probe {number}", "email": f"{state.user_id}@drill.invalid"}
            status, body = client.request("POST", "/users", user)
            if status == 409:  # another probe of this stream created it meanwhile
                status, body = client.request("PUT", f"/users/{state.user_id}", {"name": f"probe {number}"})
        if status not in (200, 201):
            return _http_error(status, body, "write: ")
        with state.lock:
            state.acknowledged(number, sent, time.monotonic())
        return status, "", ""

    def save(self, path: Path) -> Path:
        """Write the timeline as JSON lines, one sample a line, in the order the probes were sent."""
        return write_jsonl(path, (asdict(sample) for sample in self.samples()))
