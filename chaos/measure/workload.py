"""A writer that creates calendar events through the app and logs the fate of each.

Every write has a client-chosen id. The ack log says, per write, when it was
sent and whether the app acknowledged it (201), refused it (failed: nothing was
written), or the outcome is unknown (timeout, dropped connection, 5xx: the
write may or may not have landed). Only acknowledged writes can be lost.
"""

from __future__ import annotations

import enum
import json
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

__all__ = ["AckRecord", "EventWriter", "Outcome"]


class Outcome(enum.Enum):
    ACKED = "acked"
    FAILED = "failed"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class AckRecord:
    id: str
    replica: str
    sent_mono: float
    sent_wall: float
    done_mono: float
    done_wall: float
    outcome: Outcome
    status: int | None
    error: str
    payload: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "outcome": self.outcome.value}


class EventWriter:
    """Creates events at up to ``rate`` per second, round-robin over the app replicas."""

    data_class = "calendar_events"
    collection = "events"

    def __init__(self, apps: Sequence[str], *, run_id: str, rate: float = 50.0, timeout: float = 2.0) -> None:
        self.apps = tuple(apps)
        self.run_id = run_id
        self.id_prefix = f"evt-{run_id}-"
        self.user_id = f"drill-user-{run_id}"
        self.rate = rate
        self.timeout = timeout
        self._log: list[AckRecord] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="event-writer", daemon=True)

    def start(self) -> EventWriter:
        """Create the writer's user (must succeed), then write continuously in the background."""
        response = httpx.post(
            f"{self.apps[0]}/users",
            json={"id": self.user_id, "name": "Drill Writer", "email": f"{self.user_id}@drill.invalid"},
            timeout=self.timeout,
        )
        if response.status_code not in (201, 409):
            raise RuntimeError(
                f"writer set-up: POST {self.apps[0]}/users answered {response.status_code}: {response.text[:200]}"
            )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.timeout + 1)

    def log(self) -> list[AckRecord]:
        with self._lock:
            return list(self._log)

    def acked_count(self) -> int:
        return sum(1 for record in self.log() if record.outcome is Outcome.ACKED)

    def _run(self) -> None:
        sequence = 0
        interval = 1.0 / self.rate
        with httpx.Client(timeout=self.timeout) as client:
            next_at = time.monotonic()
            while not self._stop.is_set():
                app = self.apps[sequence % len(self.apps)]
                record = self._write(client, app, f"{self.id_prefix}{sequence:07d}")
                with self._lock:
                    self._log.append(record)
                sequence += 1
                next_at = max(next_at + interval, time.monotonic())
                self._stop.wait(next_at - time.monotonic())

    def _write(self, client: httpx.Client, app: str, event_id: str) -> AckRecord:
        payload = {
            "id": event_id, "user_id": self.user_id, "title": f"drill event {event_id}",
            "start": "2026-12-01T09:00:00Z", "end": "2026-12-01T09:30:00Z",
        }  # fmt: skip
        sent_mono, sent_wall = time.monotonic(), time.time()
        status: int | None = None
        try:
            response = client.post(f"{app}/events", json=payload)
            status = response.status_code
            if status == 201:
                outcome, error = Outcome.ACKED, ""
            elif status >= 500:
                outcome, error = Outcome.UNKNOWN, response.text[:200]
            else:
                outcome, error = Outcome.FAILED, response.text[:200]
        except httpx.ConnectError as exc:
            outcome, error = Outcome.FAILED, f"ConnectError: {exc}"  # refused: nothing was sent
        except httpx.HTTPError as exc:
            outcome, error = Outcome.UNKNOWN, f"{type(exc).__name__}: {exc}"
        stored = {key: value for key, value in payload.items() if key != "id"}
        return AckRecord(event_id, app, sent_mono, sent_wall, time.monotonic(), time.time(),
                         outcome, status, error, stored)  # fmt: skip

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w") as out:
            for record in self.log():
                out.write(json.dumps(record.to_json()) + "\n")
        return path
