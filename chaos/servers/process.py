"""A child process in its own session, its log, and the record that outlives us.

Each child starts in a new session so that a terminal's Ctrl-C reaches only the
runner, which then stops the children in order; ``kill`` and ``stop`` signal the
whole process group so that nothing a server forked is left behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from chaos import guardian, interrupts
from chaos.servers.procfs import pid_alive, process_cmdline, process_parent, process_start_ticks

__all__ = [
    "MARKER",
    "ManagedProcess",
    "ProcessSpec",
    "is_ours",
    "marked_under",
    "pid_alive",
    "process_cmdline",
    "process_parent",
    "process_start_ticks",
]


def is_ours(pid: object, start_ticks: object, argv: object) -> bool:
    """Whether ``pid`` is the very process a record describes, and one this tool may signal.

    Never pid 0 or 1, never this process or its process group; the kernel's start time and the
    program must both match what was recorded when the process was started, so a pid that was
    reused, or a record that was garbled, names nothing. The program is compared by name: a
    server may rewrite the rest of its command line (redis-server shows its address there).
    """
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 1 or pid in (os.getpid(), os.getpgrp()):
        return False
    if not isinstance(start_ticks, int) or not isinstance(argv, list | tuple) or not argv:
        return False
    if not pid_alive(pid, start_ticks):
        return False
    running = process_cmdline(pid)
    return running is not None and _program(running[0]) == _program(str(argv[0]))


def _program(command: str) -> str:
    words = command.split()
    return Path(words[0]).name if words else ""


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    argv: tuple[str, ...]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)


MARKER = "CHAOS_DRILL_LOG"


def marked_under(directory: Path) -> list[int]:
    """The pids of live processes whose marker names a log under ``directory``."""
    prefix = f"{MARKER}={directory}/".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if any(item.startswith(prefix) for item in environ.split(b"\0")):
            found.append(int(entry.name))
    return found


class ManagedProcess:
    """One started child. Not restartable: start a new one from the same spec."""

    def __init__(self, spec: ProcessSpec) -> None:
        self.spec = spec
        spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        # 0600: a server may log a secret
        descriptor = os.open(spec.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with open(descriptor, "ab") as log, interrupts.deferred():
            self._popen = subprocess.Popen(
                spec.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Marks the process with its log, which lies in its run's directory: a child started
                # just before its runner was killed, too late to be recorded, is still found by it. And
                # with its runner's mark: when the runner ends, its guardian stops what is left.
                env={**os.environ, **spec.env, MARKER: str(spec.log_path.resolve()), **guardian.child_environment()},
                start_new_session=True,
            )
            self.start_ticks = process_start_ticks(self._popen.pid)
            # Some servers wipe their environment (redis-server rewrites its title over it): named by pid too.
            if self.start_ticks is not None:  # None: it has already exited
                guardian.watch("process", pid=self._popen.pid, ticks=self.start_ticks, name=spec.name)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int:
        return self._popen.pid

    def alive(self) -> bool:
        return self._popen.poll() is None

    def returncode(self) -> int | None:
        return self._popen.poll()

    def send_signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, sig)

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 10.0) -> bool:
        """Signal the process group and wait up to ``timeout`` to reap the process; True if it exited.

        Never escalates: a process that outlives a SIGTERM is left running, for the caller to see.
        """
        self.send_signal(sig)
        try:
            self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout``."""
        if not self.alive():
            self.send_signal(signal.SIGKILL)  # a forked grandchild may outlive its parent
            return
        self.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._popen.wait(timeout)
        if not self.kill(signal.SIGKILL):
            self._popen.wait()

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.spec.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])
