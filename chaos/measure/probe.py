"""Samples every replica from outside, on one thread per replica and check, at a fixed rate.

Two checks per replica:
- ``health``: ``GET /health`` answers 200;
- ``data``: writes and reads through the app, alternating sample by sample:
  ``PUT /users/<probe user>`` with a new value (creating the user if a restore
  took it away), then ``GET`` of that user, which must return the last value
  written. A restore that rolled the record back fails the read: the data path
  is judged by what it returns, not only by its status.
Each sample is one request with a deadline shorter than the interval, so a slow
answer is a failed sample, not a delayed one, and the sample rate holds. A
failed sample says how it failed (``FAILURES``); an answer the prober cannot
parse is a wrong answer, never the end of its stream.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from chaos.measure.evidence import write_jsonl
from chaos.measure.http import HttpClient, RequestError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

__all__ = ["CHECKS", "FAILURES", "ProbeSample", "Prober"]

CHECKS = ("health", "data")
# How a probe failed: no connection, no answer in time, connection lost mid-request,
# an HTTP error status, an answer that is not what was written; "error": the probe itself broke.
FAILURES = ("refused", "timeout", "dropped", "5xx", "4xx", "wrong-answer", "error")


@dataclass(frozen=True)
class ProbeSample:
    target: str
    mono: float
    wall: float
    ok: bool
    status: int | None
    latency_s: float
    error: str = ""
    check: str = "health"
    failure: str = ""  # one of FAILURES when not ok

    @property
    def timed_out(self) -> bool:
        return self.failure == "timeout"

    @property
    def stream(self) -> str:
        return f"{self.check} {self.target}"


_Outcome = tuple[int, str, str]  # status, error (empty: ok), failure kind


def _http_error(status: int, body: bytes, what: str = "") -> _Outcome:
    return status, f"{what}HTTP {status}: {body[:200].decode(errors='replace')}", "5xx" if status >= 500 else "4xx"


@dataclass
class _DataPath:
    """What one replica's data stream has written, so its reads can be checked."""

    user_id: str
    acked: str | None = None  # the last value the app acknowledged
    attempted: str | None = None  # the last value sent, acknowledged or not


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
    ) -> None:
        timeout = interval * 0.9 if timeout is None else timeout
        if interval <= 0 or not 0 < timeout <= interval:
            raise ValueError(f"need 0 < timeout <= interval, got timeout {timeout} and interval {interval}")
        unknown = set(checks) - set(CHECKS)
        if unknown:
            raise ValueError(f"unknown probe checks {sorted(unknown)}; known: {', '.join(CHECKS)}")
        self.urls = tuple(urls)
        self.interval = interval
        self.timeout = timeout
        self.checks = tuple(checks)
        self.run_id = run_id
        self._samples: list[ProbeSample] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(index, url, check), name=f"probe {check} {url}", daemon=True)
            for index, url in enumerate(self.urls)
            for check in self.checks
        ]

    @property
    def streams(self) -> tuple[str, ...]:
        return tuple(f"{check} {url}" for url in self.urls for check in self.checks)

    def start(self) -> Prober:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 1)

    def samples(self) -> list[ProbeSample]:
        with self._lock:
            return list(self._samples)

    def _run(self, index: int, url: str, check: str) -> None:
        probe = self._health if check == "health" else self._data_path
        state = _DataPath(f"drill-probe-{self.run_id}-{index}")
        sequence = 0
        client = HttpClient(url, self.timeout)  # keep-alive; reconnects by itself after an error
        next_at = time.monotonic()
        try:
            while not self._stop.is_set():
                mono, wall = time.monotonic(), time.time()
                try:
                    status, error, failure = probe(client, state, sequence)
                except RequestError as exc:
                    status, error, failure = None, str(exc), exc.kind
                except Exception as exc:  # a probe that breaks is a failed sample, never a dead stream
                    status, error, failure = None, f"{type(exc).__name__}: {exc}", "error"
                latency = time.monotonic() - mono
                sample = ProbeSample(url, mono, wall, not error, status, latency, error, check, failure)
                with self._lock:
                    self._samples.append(sample)
                sequence += 1
                next_at += self.interval
                now = time.monotonic()
                if next_at < now:  # a slow sample: skip the missed slots rather than burst
                    next_at = now
                self._stop.wait(next_at - now)
        finally:
            client.close()

    def _health(self, client: HttpClient, _state: _DataPath, _sequence: int) -> _Outcome:
        status, body = client.request("GET", "/health", timeout=self.timeout)
        if status != 200:
            return _http_error(status, body)
        return status, "", ""

    def _data_path(self, client: HttpClient, state: _DataPath, sequence: int) -> _Outcome:
        if sequence % 2 == 0 or state.acked is None:
            return self._write(client, state, f"probe {sequence}")
        status, body = client.request("GET", f"/users/{state.user_id}")
        if status != 200:
            return _http_error(status, body, "read: ")
        try:
            read = json.loads(body).get("name")
        except (ValueError, AttributeError):
            return status, f"read: not a JSON object: {body[:200].decode(errors='replace')!r}", "wrong-answer"
        if read not in (state.acked, state.attempted):
            return status, f"read returned {read!r}; last acknowledged write was {state.acked!r}", "wrong-answer"
        return status, "", ""

    def _write(self, client: HttpClient, state: _DataPath, name: str) -> _Outcome:
        state.attempted = name
        status, body = client.request("PUT", f"/users/{state.user_id}", {"name": name})
        if status == 404:
            user = {"id": state.user_id, "name": name, "email": f"{state.user_id}@drill.invalid"}
            status, body = client.request("POST", "/users", user)
        if status not in (200, 201):
            return _http_error(status, body, "write: ")
        state.acked = name
        return status, "", ""

    def save(self, path: Path) -> Path:
        """Write the timeline as JSON lines, one sample a line."""
        return write_jsonl(path, (asdict(sample) for sample in self.samples()))
