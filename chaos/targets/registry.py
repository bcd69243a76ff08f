"""Run directories on disk, so that a crashed runner's processes can be found and stopped.

Each run directory holds ``run.json``: the owner (the runner's pid and start
time) and every child started (pid, start time, command line). A run whose
owner is gone is an orphan: its children are killed and its directory removed.
A child is signalled only if it is still the process recorded (see
``is_ours``): a reused pid, or a garbled record, is left alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
from typing import TYPE_CHECKING, Any

from chaos.servers.process import is_ours, marked_under, pid_alive, process_start_ticks

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["RunRecord", "sweep_orphans"]

RECORD = "run.json"


class RunRecord:
    def __init__(self, run_dir: Path, owner_pid: int | None = None) -> None:
        self.run_dir = run_dir
        pid = owner_pid if owner_pid is not None else os.getpid()
        self._data: dict[str, Any] = {
            "owner": {"pid": pid, "start_ticks": process_start_ticks(pid)},
            "created": time.time(),
            "children": {},
        }
        self._save()

    def _save(self) -> None:
        tmp = self.run_dir / f".{RECORD}.tmp"
        tmp.write_text(json.dumps(self._data, indent=1))
        tmp.replace(self.run_dir / RECORD)

    def add_child(self, name: str, pid: int, start_ticks: int | None, argv: tuple[str, ...]) -> None:
        self._data["children"][name] = {"pid": pid, "start_ticks": start_ticks, "argv": list(argv)}
        self._save()


def _owner_alive(record: dict[str, Any]) -> bool:
    owner = record.get("owner")
    if not isinstance(owner, dict) or not isinstance(owner.get("pid"), int) or owner["pid"] <= 1:
        return True  # cannot tell who owns it: treat it as in use, touch nothing
    return pid_alive(owner["pid"], owner.get("start_ticks"))


def sweep_orphans(base: Path) -> list[str]:
    """Kill the children of runs whose owner died, remove their directories.

    Returns a line per process killed, for the log.
    """
    killed: list[str] = []
    if not base.is_dir():
        return killed
    for run_dir in sorted(base.iterdir()):
        path = run_dir / RECORD
        try:
            record = json.loads(path.read_bytes())
        except (OSError, ValueError):
            continue  # unreadable: left for a person to look at
        if not isinstance(record, dict) or _owner_alive(record):
            continue
        children = record.get("children")
        for name, child in (children if isinstance(children, dict) else {}).items():
            if not isinstance(child, dict):
                continue
            if not is_ours(child.get("pid"), child.get("start_ticks"), child.get("argv")):
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child["pid"], signal.SIGKILL)  # each child leads its own process group
            killed.append(f"{run_dir.name}/{name} pid {child['pid']}")
        recorded = {child.get("pid") for child in (children if isinstance(children, dict) else {}).values()
                    if isinstance(child, dict)}  # fmt: skip
        for pid in set(marked_under(run_dir.resolve())) - recorded:  # started, not yet recorded, when its runner died
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            killed.append(f"{run_dir.name}/unrecorded pid {pid}")
        shutil.rmtree(run_dir, ignore_errors=True)
    return killed
