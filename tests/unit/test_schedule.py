"""A backup schedule: its backups on time, and each failure with when it happened."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from chaos.measure.timeline import Timeline
from chaos.recovery.schedule import BackupScheduler

if TYPE_CHECKING:
    from pathlib import Path


def test_failures_are_told_apart_by_when_they_happened(tmp_path: Path) -> None:
    attempts: list[Path] = []

    def take(path: Path) -> None:
        attempts.append(path)
        if len(attempts) >= 2:
            raise OSError(f"{path.name}: refused")

    timeline = Timeline()
    schedule = BackupScheduler(take, tmp_path, interval=0.5, timeline=timeline, stores=("mongodb",)).start()
    while not schedule.errors():
        time.sleep(0.01)
    between = time.monotonic()  # after the second attempt failed, before the third (0.5 s later)
    while len(schedule.errors()) < 3:
        time.sleep(0.01)
    schedule.stop()
    assert [path.name for path in schedule.completed()] == ["000"]
    assert schedule.errors(ended_before=between) == ["001: OSError: 001: refused"]
    assert len(schedule.errors()) == len(attempts) - 1 >= 3  # each later failure is later than ``between``
    [taken] = [moment for moment in timeline.moments() if moment.name == "backup_taken"]
    assert taken.detail["backup"] == "000"
    assert taken.detail["stores"] == ["mongodb"]
