"""Backups on a schedule during a drill, at an interval derived from the RPO budget.

With a backup every ``interval`` seconds, the data lost when the latest backup
is restored reaches back at most ``interval`` plus one backup's duration; half
the RPO leaves the other half for the backup itself and for jitter.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from chaos.measure.timeline import Timeline

__all__ = ["BackupScheduler", "interval_for_rpo"]


def interval_for_rpo(rpo_s: float) -> float:
    return rpo_s / 2


class BackupScheduler:
    """Takes a backup into ``directory/NNN`` now and then every ``interval`` seconds, until stopped."""

    def __init__(
        self, take: Callable[[Path], object], directory: Path, *, interval: float, timeline: Timeline | None = None,
        stores: tuple[str, ...] = ("mongodb",),
    ) -> None:  # fmt: skip
        if interval <= 0:
            raise ValueError(f"backup interval {interval}: must be positive")
        self.take, self.directory, self.interval, self.timeline = take, directory, interval, timeline
        self.stores = list(stores)  # what each backup holds, for the timeline
        self._done: list[Path] = []
        self._errors: list[tuple[float, str]] = []  # (when it failed, monotonic; why)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="backup-schedule", daemon=True)

    def start(self) -> BackupScheduler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join(timeout=300)

    def latest(self) -> Path | None:
        with self._lock:
            return self._done[-1] if self._done else None

    def completed(self) -> list[Path]:
        with self._lock:
            return list(self._done)

    def errors(self, *, ended_before: float | None = None) -> list[str]:
        """Why each failed backup failed; with ``ended_before`` (monotonic), only those that had failed by then."""
        with self._lock:
            return [error for ended, error in self._errors if ended_before is None or ended < ended_before]

    def _run(self) -> None:
        number, next_at = 0, time.monotonic()
        while not self._stop.is_set():
            path = self.directory / f"{number:03d}"
            started = time.monotonic()
            try:
                self.take(path)
            except Exception as exc:  # a failed backup is reported; the schedule goes on, as cron's would
                with self._lock:
                    self._errors.append((time.monotonic(), f"{path.name}: {type(exc).__name__}: {exc}"))
            else:
                with self._lock:
                    self._done.append(path)
                if self.timeline is not None:
                    self.timeline.mark("backup_taken", mono=started, backup=path.name, stores=self.stores,
                                       duration_s=round(time.monotonic() - started, 3))  # fmt: skip
            number += 1
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))
