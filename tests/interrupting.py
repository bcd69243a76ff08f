"""A pytest plugin for the interrupt tests: the drill run signals itself at one phase of its life.

Loaded with ``-p tests.interrupting`` into a drill run. ``CHAOS_TEST_INTERRUPT=<phase>:<signal>`` names the
moment and the signal (SIGINT or SIGTERM), sent once, to the run's own process, as a terminal or CI would:

    spawned:<server>   just after the process of a server (mongodb, redis, toxiproxy, prometheus, app-N) started
    ready:<server>     as soon as it answers
    writers, crowd     just after the writers' threads, or the crowd (locust), started
    fault              the fault injected and its effect seen
    recovery           the recovery procedure started
    report             the run's reports being written

``CHAOS_TEST_INTERRUPT_LOG`` names a file that gets one JSON line per process the run started (pid, start
ticks, name) and, at the interrupt, which of them (the guardian included) hold the run's standard output or
error: what the test checks afterwards.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaos import guardian
from chaos.measure.crowd import Crowd
from chaos.measure.timeline import Timeline
from chaos.measure.workload import Writer
from chaos.servers.process import ManagedProcess
from chaos.servers.procfs import process_start_ticks
from chaos.targets.local import LocalTarget

if TYPE_CHECKING:
    import pytest

PHASE_MARKS = {"fault": "fault_observed", "recovery": "recovery_started"}

_armed: dict[str, Any] = {}


def _log(line: dict[str, Any]) -> None:
    with Path(os.environ["CHAOS_TEST_INTERRUPT_LOG"]).open("a") as log:
        log.write(json.dumps(line) + "\n")


def _started(pid: int, name: str) -> None:
    _log({"pid": pid, "ticks": process_start_ticks(pid), "name": name})


def _holding_output() -> list[str]:
    """The processes this run started (its guardian too) that hold its stdout or stderr."""
    ours = {os.fstat(fd).st_ino for fd in (1, 2)}
    pids = [json.loads(line)["pid"] for line in Path(os.environ["CHAOS_TEST_INTERRUPT_LOG"]).read_text().splitlines()
            if "pid" in json.loads(line)]  # fmt: skip
    link = guardian._link
    if link is not None:
        pids.append(link.pid)
    holding = []
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.stat(fd).st_ino in ours:
                    holding.append(f"{pid} fd {fd.name}")
            except OSError:
                continue
    return holding


def _reached(phase: str) -> None:
    if _armed.get("phase") != phase:
        return
    sig = _armed.pop("signal")
    _armed.clear()
    link = guardian._link
    _log({"interrupted_at": phase, "signal": sig, "holding_output": _holding_output(),
          "guardian": link.pid if link is not None else None, "at": time.time()})  # fmt: skip
    os.kill(os.getpid(), getattr(signal, sig))


def _wrap(owner: Any, name: str, after: Any) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        after(self, *args, **kwargs)
        return result

    setattr(owner, name, wrapped)


def pytest_configure(config: pytest.Config) -> None:
    phase, _, sig = os.environ["CHAOS_TEST_INTERRUPT"].rpartition(":")
    _armed.update(phase=phase, signal=sig)

    def spawned(process: ManagedProcess, spec: Any) -> None:
        _started(process.pid, spec.name)
        _reached(f"spawned:{spec.name}")

    def crowd(started: Crowd) -> None:
        if started._process is not None:
            _started(started._process.pid, "crowd")
        _reached("crowd")

    def marked(timeline: Timeline, name: str, **_: Any) -> None:
        for phase, mark in PHASE_MARKS.items():
            if name == mark:
                _reached(phase)

    _wrap(ManagedProcess, "__init__", spawned)
    _wrap(LocalTarget, "_await_ready", lambda target, process, ready: _reached(f"ready:{process.name}"))
    _wrap(Writer, "start", lambda writer: _reached("writers"))
    _wrap(Crowd, "start", crowd)
    _wrap(Timeline, "mark", marked)
    import fixtures.drill as drill_fixtures  # loaded by now, as the root conftest's plugin (not before: rewriting)

    writing = drill_fixtures.write_compliance

    def write_compliance(*args: Any, **kwargs: Any) -> Any:
        _reached("report")
        return writing(*args, **kwargs)

    drill_fixtures.write_compliance = write_compliance  # type: ignore[assignment]
