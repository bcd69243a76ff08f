"""Writers that create records of one data class through the app and log the fate of each.

Every write has a client-chosen id. The ack log says, per write, when it was
sent and whether the app acknowledged it (2xx), refused it (failed: nothing was
written), or the outcome is unknown (timeout, dropped connection, 5xx, or 409:
a record with this id exists, so an earlier attempt of it may have landed).
Only acknowledged writes can be lost. A write still in flight when the writer
stops is logged then as unknown, and whatever answer comes later is ignored:
nothing is acknowledged after the final read.
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from chaos.measure.evidence import write_jsonl
from chaos.measure.http import HttpClient, RequestError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

__all__ = ["WORKLOADS", "AckRecord", "Outcome", "Workload", "Writer", "workload_for"]


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


@dataclass(frozen=True)
class Workload:
    """One data class: how a record is written through the app, and where it is stored."""

    data_class: str
    noun: str  # as the Gherkin says it
    path: str  # the app's create endpoint
    store: str  # "mongodb" or "redis"
    location: str  # the collection, or the Redis key prefix
    id_prefix: str
    body: Callable[[str, str], dict[str, Any]]  # (write id, owner user id) -> request body
    stored: Callable[[dict[str, Any]], dict[str, Any]]  # request body -> fields the store must hold
    needs_owner: bool = False


def _without_id(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key != "id"}


WORKLOADS: dict[str, Workload] = {
    workload.data_class: workload
    for workload in (
        Workload("user_data", "users", "/users", "mongodb", "users", "usr",
                 lambda wid, _: {"id": wid, "name": f"drill user {wid}", "email": f"{wid}@drill.invalid"},
                 _without_id),
        Workload("calendar_events", "calendar events", "/events", "mongodb", "events", "evt",
                 lambda wid, owner: {"id": wid, "user_id": owner, "title": f"drill event {wid}",
                                     "start": "2026-12-01T09:00:00Z", "end": "2026-12-01T09:30:00Z"},
                 _without_id, needs_owner=True),
        Workload("system_configuration", "settings", "/settings", "mongodb", "settings", "cfg",
                 lambda wid, _: {"id": wid, "value": f"drill setting {wid}"}, _without_id),
        Workload("sessions", "sessions", "/sessions", "redis", "session:", "ses",
                 lambda wid, owner: {"id": wid, "user_id": owner},
                 lambda body: {"user_id": body["user_id"]}, needs_owner=True),
    )
}  # fmt: skip


def workload_for(words: str) -> Workload:
    """The workload a Gherkin phrase names: 'calendar events', 'user data', 'sessions', ..."""
    key = words.strip().lower()
    for workload in WORKLOADS.values():
        if key in (workload.noun, workload.data_class.replace("_", " ")):
            return workload
    known = ", ".join(sorted(w.noun for w in WORKLOADS.values()))
    raise ValueError(f"no writer for {words!r}; writers exist for: {known}")


class Writer:
    """Writes one workload at up to ``rate`` per second (None: as fast as it can) on ``concurrency`` threads."""

    def __init__(
        self,
        apps: Sequence[str],
        workload: Workload,
        *,
        run_id: str,
        rate: float | None = 50.0,
        concurrency: int = 1,
        timeout: float = 2.0,
        keep_log: bool = True,
    ) -> None:
        self.apps = tuple(apps)
        self.workload = workload
        self.run_id = run_id
        self.id_prefix = f"{workload.id_prefix}-{run_id}-"
        self.owner = f"drill-owner-{run_id}"
        self.rate = rate
        self.concurrency = concurrency
        self.timeout = timeout
        self.keep_log = keep_log
        self._log: list[AckRecord] = []
        self._counts = dict.fromkeys(Outcome, 0)
        self._lock = threading.Lock()
        self._in_flight: dict[int, AckRecord] = {}  # writer thread -> its write, as logged if it never returns
        self._closed = False
        self._stop = threading.Event()
        self._sequence = itertools.count()
        self._threads = [
            threading.Thread(target=self._run, name=f"writer {workload.data_class} {n}", daemon=True)
            for n in range(concurrency)
        ]

    @property
    def data_class(self) -> str:
        return self.workload.data_class

    def start(self) -> Writer:
        """Write in the background. The system may be broken already: nothing here waits for it."""
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop writing; a write that has not returned by then is logged as unknown, and its answer ignored."""
        self._stop.set()
        for thread in self._threads:
            if thread.ident is not None:
                thread.join(timeout=self.timeout + 1)
        with self._lock:
            self._closed = True
            now_mono, now_wall = time.monotonic(), time.time()
            for pending in self._in_flight.values():
                self._keep(dataclasses.replace(pending, done_mono=now_mono, done_wall=now_wall))
            self._in_flight.clear()

    def _keep(self, record: AckRecord) -> None:
        self._counts[record.outcome] += 1
        if self.keep_log:
            self._log.append(record)

    def _ensure_owner(self, client: HttpClient) -> bool:
        """Create the user that owns this workload's records; False while the app cannot."""
        body = {"id": self.owner, "name": "Drill owner", "email": f"{self.owner}@drill.invalid"}
        try:
            status, _ = client.request("POST", "/users", body)
        except RequestError:
            return False
        return status in (201, 409)

    def log(self) -> list[AckRecord]:
        with self._lock:
            return list(self._log)

    def count(self, outcome: Outcome) -> int:
        with self._lock:
            return self._counts[outcome]

    def acked_count(self) -> int:
        return self.count(Outcome.ACKED)

    def _run(self) -> None:
        interval = None if self.rate is None else self.concurrency / self.rate
        clients = {app: HttpClient(app, self.timeout) for app in self.apps}
        next_at = time.monotonic()
        try:
            # Records that name an owner are refused until the owner exists; no write is
            # attempted before, so none is logged as failed for that reason.
            while self.workload.needs_owner and not self._ensure_owner(clients[self.apps[0]]):
                if self._stop.wait(0.1):
                    return
            me = threading.get_ident()
            while not self._stop.is_set():
                sequence = next(self._sequence)
                app = self.apps[sequence % len(self.apps)]
                write_id = f"{self.id_prefix}{sequence:07d}"
                body = self.workload.body(write_id, self.owner)
                mono, wall = time.monotonic(), time.time()
                with self._lock:
                    if self._closed:
                        return
                    self._in_flight[me] = AckRecord(write_id, app, mono, wall, mono, wall, Outcome.UNKNOWN, None,
                                                    "still in flight when the writer stopped",
                                                    self.workload.stored(body))  # fmt: skip
                record = self._write(clients[app], app, write_id, body, mono, wall)
                with self._lock:
                    if self._closed:
                        return  # stop() logged this write as unknown; an answer this late does not count
                    del self._in_flight[me]
                    self._keep(record)
                if interval is not None:
                    next_at = max(next_at + interval, time.monotonic())
                    self._stop.wait(next_at - time.monotonic())
        finally:
            for client in clients.values():
                client.close()

    def _write(
        self, client: HttpClient, app: str, write_id: str, body: dict[str, Any], sent_mono: float, sent_wall: float
    ) -> AckRecord:
        status: int | None = None
        try:
            status, reply = client.request("POST", self.workload.path, body)
            text = reply[:200].decode(errors="replace")
            if 200 <= status < 300:
                outcome, error = Outcome.ACKED, ""
            elif status >= 500 or status == 409:
                # 5xx: the app may have written before failing. 409: the id exists, so this write, or an
                # attempt of it retried by a driver, already landed.
                outcome, error = Outcome.UNKNOWN, text
            else:
                outcome, error = Outcome.FAILED, text
        except RequestError as exc:
            # Refused: nothing was sent. Timed out or dropped: it may have landed.
            outcome = Outcome.FAILED if exc.kind == "refused" else Outcome.UNKNOWN
            error = str(exc)
        except Exception as exc:  # the writer broke, not the write: its fate is unknown, and writing goes on
            outcome, error = Outcome.UNKNOWN, f"{type(exc).__name__}: {exc}"
        return AckRecord(write_id, app, sent_mono, sent_wall, time.monotonic(), time.time(),
                         outcome, status, error, self.workload.stored(body))  # fmt: skip

    def save(self, path: Path) -> Path:
        """Write the ack log as JSON lines, one write a line."""
        return write_jsonl(path, (record.to_json() for record in self.log()))
