"""Samples every replica's health endpoint on its own thread, at a fixed rate."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

__all__ = ["ProbeSample", "Prober"]


@dataclass(frozen=True)
class ProbeSample:
    target: str
    mono: float
    wall: float
    ok: bool
    status: int | None
    latency_s: float
    error: str = ""


class Prober:
    """``GET <url>/health`` on every url every ``interval`` seconds until stopped."""

    def __init__(self, urls: Sequence[str], *, interval: float = 0.05, timeout: float = 0.5) -> None:
        if interval <= 0 or timeout <= 0:
            raise ValueError("probe interval and timeout must be positive")
        self.urls = tuple(urls)
        self.interval = interval
        self.timeout = timeout
        self._samples: list[ProbeSample] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(url,), name=f"probe {url}", daemon=True) for url in self.urls
        ]

    def start(self) -> Prober:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 1)

    def samples(self, target: str | None = None) -> list[ProbeSample]:
        with self._lock:
            found = list(self._samples)
        return [sample for sample in found if target is None or sample.target == target]

    def _run(self, url: str) -> None:
        with httpx.Client(timeout=self.timeout) as client:
            next_at = time.monotonic()
            while not self._stop.is_set():
                self._record(self._probe(client, url))
                next_at += self.interval
                delay = next_at - time.monotonic()
                if delay < 0:  # fell behind (a slow answer): keep the rate, drop the missed slots
                    next_at = time.monotonic()
                    delay = 0
                self._stop.wait(delay)

    def _probe(self, client: httpx.Client, url: str) -> ProbeSample:
        mono, wall = time.monotonic(), time.time()
        try:
            response = client.get(f"{url}/health")
        except httpx.HTTPError as exc:
            return ProbeSample(url, mono, wall, False, None, time.monotonic() - mono, f"{type(exc).__name__}: {exc}")
        latency = time.monotonic() - mono
        ok = response.status_code == 200
        error = "" if ok else response.text[:200]
        return ProbeSample(url, mono, wall, ok, response.status_code, latency, error)

    def _record(self, sample: ProbeSample) -> None:
        with self._lock:
            self._samples.append(sample)

    def save(self, path: Path) -> Path:
        """Write the timeline as JSON lines, one sample a line."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w") as out:
            for sample in self.samples():
                out.write(json.dumps(asdict(sample)) + "\n")
        return path
