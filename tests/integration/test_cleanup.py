"""Nothing the sandbox started survives its runner: not a SIGKILL of the runner, not Ctrl-C.

A runner killed with SIGKILL is cleaned up after by its guardian; the sweep of the next run finds what a
runner lost together with its guardian left (tests.runners).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from chaos.guardian import KILL_TIMEOUT_S, log_path
from chaos.servers.process import pid_alive
from chaos.targets.registry import sweep_orphans
from chaos.wait import wait_for
from tests.runners import guardian_of, kill_with_guardian

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parents[2]

RUNNER = """
import sys, time
from pathlib import Path
from chaos.targets.local import LocalTarget
target = LocalTarget(Path(sys.argv[1]), replicas=2)
target.start()
print("ready", flush=True)
time.sleep(600)
"""


def _children(base: Path) -> list[tuple[int, int | None]]:
    found = []
    for record in base.glob("*/run.json"):
        for child in json.loads(record.read_text())["children"].values():
            found.append((child["pid"], child["start_ticks"]))
    return found


@contextlib.contextmanager
def _runner(base: Path) -> Iterator[subprocess.Popen[str]]:
    """RUNNER in a process of its own, once its stack is up."""
    with subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(base)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    ) as runner:
        assert runner.stdout is not None
        assert runner.stdout.readline().strip() == "ready"
        yield runner


def test_the_guardian_stops_what_a_runner_killed_with_sigkill_left(tmp_path: Path) -> None:
    base = tmp_path / "runs"
    with _runner(base) as runner:
        try:
            children = _children(base)
            guardian = guardian_of(runner.pid)
        finally:
            runner.kill()  # SIGKILL: no teardown runs
    assert len(children) == 6  # MongoDB, Redis, Toxiproxy, Prometheus, two replicas
    assert guardian is not None
    # The guardian wakes when the runner's end of its pipe closes, then kills with SIGKILL and waits for none
    # to be left (chaos.guardian.KILL_TIMEOUT_S): every child is gone well within that.
    wait_for(lambda: not any(pid_alive(pid, ticks) for pid, ticks in children), what="the runner's children gone",
             timeout=KILL_TIMEOUT_S)  # fmt: skip
    wait_for(lambda: not pid_alive(guardian), what="the guardian to finish", timeout=KILL_TIMEOUT_S)
    assert list(base.iterdir()) == []  # the run directory removed too
    assert "killed process" in log_path(runner.pid).read_text()


def test_sweep_stops_what_a_runner_lost_with_its_guardian_left(tmp_path: Path) -> None:
    base = tmp_path / "runs"
    with _runner(base) as runner:
        try:
            children = _children(base)
        finally:
            kill_with_guardian(runner)  # no teardown runs, no guardian cleans up
    assert len(children) == 6  # MongoDB, Redis, Toxiproxy, Prometheus, two replicas
    assert all(pid_alive(pid, ticks) for pid, ticks in children), "the children outlive a killed runner"
    killed = sweep_orphans(base)
    assert len(killed) == 6
    wait_for(lambda: not any(pid_alive(pid, ticks) for pid, ticks in children), what="orphans gone", timeout=5)
    assert list(base.iterdir()) == []


def test_sweep_leaves_a_live_runs_processes_alone(tmp_path: Path) -> None:
    base = tmp_path / "runs"
    with _runner(base) as runner:
        try:
            assert sweep_orphans(base) == []
            assert all(pid_alive(pid, ticks) for pid, ticks in _children(base))
        finally:
            runner.kill()
    sweep_orphans(base)


UNRECORDED = """
import sys, time
from pathlib import Path
from chaos.servers.process import ManagedProcess, ProcessSpec
from chaos.targets.local import LocalTarget
target = LocalTarget(Path(sys.argv[1]), replicas=1)
target.start()
# As if the runner died between starting a child and recording it.
late = ManagedProcess(ProcessSpec("late", (sys.executable, "-c", "import time; time.sleep(600)"),
                                  target.run_dir / "logs" / "late.log"))
print(late.pid, late.start_ticks, flush=True)
time.sleep(600)
"""


def test_sweep_finds_a_child_started_too_late_to_be_recorded(tmp_path: Path) -> None:
    base = tmp_path / "runs"
    with subprocess.Popen(
        [sys.executable, "-c", UNRECORDED, str(base)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    ) as runner:
        try:
            assert runner.stdout is not None
            pid, ticks = (int(word) for word in runner.stdout.readline().split())
        finally:
            kill_with_guardian(runner)
    assert pid not in [child for child, _ in _children(base)]
    killed = sweep_orphans(base)
    assert f"unrecorded pid {pid}" in " ".join(killed)
    wait_for(lambda: not pid_alive(pid, ticks), what="the unrecorded child gone", timeout=5)
    assert list(base.iterdir()) == []
