"""Runners lost together with their guardian: what they leave is for the next run or `drill cleanup` to find.

A runner killed with SIGKILL is cleaned up after by its guardian (chaos.guardian). The tests of the sweeps
that come after — the next run's, `drill cleanup`'s — stand for the rarer case where both are gone at once
(an OOM kill of the process group, a machine reset): they kill the guardian first.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

from chaos.servers.procfs import pid_alive

if TYPE_CHECKING:
    import subprocess


def guardian_of(runner: int) -> int | None:
    """The pid of runner ``runner``'s guardian, if it has one running."""
    wanted = f"chaos.guardian\0--owner\0{runner}:".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if wanted in (entry / "cmdline").read_bytes() and pid_alive(int(entry.name)):
                return int(entry.name)
        except OSError:
            continue
    return None


def kill_guardian_of(runner: int) -> None:
    """SIGKILL runner ``runner``'s guardian and wait until it is gone."""
    pid = guardian_of(runner)
    if pid is None:
        return
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)


def kill_with_guardian(runner: subprocess.Popen[str] | subprocess.Popen[bytes]) -> None:
    """SIGKILL ``runner`` and, first, its guardian: both lost at once, nothing of theirs cleans up."""
    kill_guardian_of(runner.pid)
    runner.kill()
    runner.wait()
