"""Reading a process's state from /proc: one read per question, so an exit in between is no crash."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from chaos.servers import process
from chaos.servers.process import pid_alive, process_parent, process_start_ticks

if TYPE_CHECKING:
    import pytest


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_a_running_child_is_alive_and_a_recycled_start_time_is_not_the_same_process() -> None:
    child = _sleeper()
    try:
        ticks = process_start_ticks(child.pid)
        assert ticks is not None
        assert pid_alive(child.pid)
        assert pid_alive(child.pid, ticks)
        assert not pid_alive(child.pid, ticks + 1)
        assert process_parent(child.pid) == os.getpid()
    finally:
        child.kill()
        child.wait()


def test_a_zombie_and_a_reaped_child_are_not_alive() -> None:
    child = _sleeper()
    child.kill()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline, "the killed child never became a zombie"
        time.sleep(0.01)
    assert not pid_alive(child.pid)  # exited, not yet reaped
    child.wait()
    assert not pid_alive(child.pid)
    assert process_start_ticks(child.pid) is None
    assert process_parent(child.pid) is None


def test_a_process_that_exits_between_two_looks_is_gone_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stat file is read once: a second read, after the process exited, would raise."""
    reads: list[Path] = []
    real = Path.read_text

    def exits_after_first_read(path: Path, *args: object, **kwargs: object) -> str:
        if str(path).startswith("/proc/") and path.name == "stat":
            reads.append(path)
            if len(reads) > 1:
                raise FileNotFoundError(2, "No such file or directory", str(path))
        return real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(process.Path, "read_text", exits_after_first_read)
    child = _sleeper()
    try:
        assert pid_alive(child.pid)
        assert len(reads) == 1
        assert not pid_alive(child.pid)  # the next look finds it gone
    finally:
        child.kill()
        child.wait()
