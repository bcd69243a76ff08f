"""What /proc says of a process: alive or not, when it started, its parent, its command line.

Each question reads the process's files once: a process may exit between two reads.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["pid_alive", "process_cmdline", "process_parent", "process_start_ticks"]


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (field 3 on), or None if gone.

    Read once per question: a process may exit between two reads of its stat file.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses, so split after its last one.
    return stat.rsplit(")", 1)[1].split()


def process_start_ticks(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), or None if gone.

    Stored with the pid so that a recycled pid is never mistaken for our child.
    """
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[19])  # field 22


def process_parent(pid: int) -> int | None:
    """The pid of ``pid``'s parent, or None if ``pid`` is gone."""
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[1])  # field 4


def pid_alive(pid: int, start_ticks: int | None = None) -> bool:
    """Whether ``pid`` runs and is not a zombie (and, given ``start_ticks``, is the same process)."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] == "Z":  # field 3, the state
        return False
    return start_ticks is None or int(fields[19]) == start_ticks


def process_cmdline(pid: int) -> tuple[str, ...] | None:
    """The command line ``pid`` was started with, or None if it is gone (or a kernel thread)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return tuple(part.decode(errors="replace") for part in raw.split(b"\0")[:-1]) or None
