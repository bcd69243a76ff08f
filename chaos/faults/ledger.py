"""Every fault in flight, on disk, so that a crashed runner's faults can still be reverted.

An entry is written before a fault touches anything and removed after it is
reverted. Each holds the fault's *spec* — plain data from which a fresh
process can rebuild and revert it — the owner (pid and kernel start time), and
a snapshot directory for faults that destroy data and must put it back.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaos import guardian
from chaos.servers.process import pid_alive, process_start_ticks

__all__ = ["DEFAULT_LEDGER", "Ledger", "LedgerEntry"]

DEFAULT_LEDGER = Path(os.environ.get("CHAOS_LEDGER_DIR", ".drill/ledger"))
FAULT_ID = re.compile(r"[a-z][a-z0-9_]*(-[a-z0-9_]+)*-[0-9a-f]{12}")  # kind-<12 hex>: a name in the ledger, no path


def _checked(fault_id: str) -> str:
    if not FAULT_ID.fullmatch(fault_id):
        raise ValueError(f"{fault_id!r} is not a fault id (kind-<12 hex digits>)")
    return fault_id


@dataclass(frozen=True)
class LedgerEntry:
    id: str
    kind: str
    spec: dict[str, Any]
    owner_pid: int
    owner_ticks: int | None
    created: float
    path: Path

    @property
    def snapshot_dir(self) -> Path:
        return self.path.with_suffix(".snapshot")

    def owner_alive(self) -> bool:
        return pid_alive(self.owner_pid, self.owner_ticks)


class Ledger:
    def __init__(self, directory: Path = DEFAULT_LEDGER) -> None:
        self.directory = directory

    def record(self, fault_id: str, kind: str, spec: dict[str, Any]) -> LedgerEntry:
        guardian.watch("ledger", path=str(self.directory.resolve()))  # it reverts what a runner that died left
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{_checked(fault_id)}.json"
        pid = os.getpid()
        data = {"id": fault_id, "kind": kind, "spec": spec, "owner_pid": pid,
                "owner_ticks": process_start_ticks(pid), "created": time.time()}  # fmt: skip
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, path)  # a crash leaves the old entry or the new one, never half of one
        return self._entry(data, path)

    def snapshot_dir(self, fault_id: str) -> Path:
        directory = self.directory / f"{_checked(fault_id)}.snapshot"
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    def remove(self, fault_id: str) -> None:
        _checked(fault_id)  # an id read from an entry names a file: never one outside the ledger
        with contextlib.suppress(FileNotFoundError):
            (self.directory / f"{fault_id}.json").unlink()
        shutil.rmtree(self.directory / f"{fault_id}.snapshot", ignore_errors=True)

    @staticmethod
    def _entry(data: Any, path: Path) -> LedgerEntry:
        fields = {"id": str, "kind": str, "spec": dict, "owner_pid": int, "created": int | float}
        if not isinstance(data, dict) or any(not isinstance(data.get(key), kind) for key, kind in fields.items()):
            raise ValueError("not a ledger entry: id, kind, spec, owner_pid or created missing or of the wrong type")
        if data.get("owner_ticks") is not None and not isinstance(data["owner_ticks"], int):
            raise ValueError("not a ledger entry: owner_ticks is not a number")
        if not FAULT_ID.fullmatch(data["id"]) or data["id"] != path.stem:
            raise ValueError(f"not a ledger entry: its id {data['id']!r} is not a fault id or not its file's name")
        return LedgerEntry(data["id"], data["kind"], data["spec"], data["owner_pid"], data.get("owner_ticks"),
                           data["created"], path)  # fmt: skip

    def _scan(self) -> tuple[list[LedgerEntry], list[str]]:
        """Readable entries, and a line per entry that cannot be read (truncated, binary, garbled)."""
        if not self.directory.is_dir():
            return [], []
        found, unreadable = [], []
        for path in sorted(self.directory.glob("*.json")):
            try:
                found.append(self._entry(json.loads(path.read_bytes()), path))
            except (OSError, ValueError) as exc:
                unreadable.append(f"{path}: {exc}")
        return found, unreadable

    def entries(self) -> list[LedgerEntry]:
        return self._scan()[0]

    def unreadable(self) -> list[str]:
        """Entries that cannot be read: never guessed at, never removed; `drill cleanup` reports them."""
        return self._scan()[1]

    def orphans(self) -> list[LedgerEntry]:
        """Entries whose owner is gone: nobody else will revert them."""
        return [entry for entry in self.entries() if not entry.owner_alive()]
