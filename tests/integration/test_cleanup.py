"""Nothing the sandbox started survives its runner: not a SIGKILL of the runner, not Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from chaos.servers.process import pid_alive
from chaos.targets.registry import sweep_orphans
from chaos.wait import wait_for

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


def test_sweep_stops_what_a_killed_runner_left(tmp_path: Path) -> None:
    base = tmp_path / "runs"
    with subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(base)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    ) as runner:
        try:
            assert runner.stdout is not None
            assert runner.stdout.readline().strip() == "ready"
            children = _children(base)
        finally:
            runner.kill()  # SIGKILL: no teardown runs
    assert len(children) == 6  # MongoDB, Redis, Toxiproxy, Prometheus, two replicas
    assert all(pid_alive(pid, ticks) for pid, ticks in children), "the children outlive a killed runner"
    killed = sweep_orphans(base)
    assert len(killed) == 6
    wait_for(lambda: not any(pid_alive(pid, ticks) for pid, ticks in children), what="orphans gone", timeout=5)
    assert list(base.iterdir()) == []


def test_sweep_leaves_a_live_runs_processes_alone(tmp_path: Path) -> None:
    base = tmp_path / "runs"
    with subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(base)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    ) as runner:
        try:
            assert runner.stdout is not None
            assert runner.stdout.readline().strip() == "ready"
            assert sweep_orphans(base) == []
            assert all(pid_alive(pid, ticks) for pid, ticks in _children(base))
        finally:
            runner.kill()
    sweep_orphans(base)


def test_ctrl_c_during_a_drill_stops_every_process(tmp_path: Path) -> None:
    base = tmp_path / "runs"
    with subprocess.Popen(
        [sys.executable, "-m", "pytest", "-m", "database_failure", "-q", "-p", "no:cacheprovider",
         "--workdir", str(base), "--drill-report-dir", str(tmp_path / "report"), "--ledger-dir", str(tmp_path / "l")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    ) as drill:  # fmt: skip
        # Interrupt once the stack is up and the writer is running.
        wait_for(lambda: len(_children(base)) >= 6, what="the drill's stack to start", timeout=60)
        time.sleep(1.0)
        children = _children(base)
        os.kill(drill.pid, signal.SIGINT)
        output, _ = drill.communicate(timeout=60)
    assert drill.returncode != 0
    assert "KeyboardInterrupt" in output
    still = [pid for pid, ticks in children if pid_alive(pid, ticks)]
    assert still == [], f"left running after Ctrl-C: {still}\n{output}"
    assert list(base.iterdir()) == []


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
            runner.kill()
    assert pid not in [child for child, _ in _children(base)]
    killed = sweep_orphans(base)
    assert f"unrecorded pid {pid}" in " ".join(killed)
    wait_for(lambda: not pid_alive(pid, ticks), what="the unrecorded child gone", timeout=5)
    assert list(base.iterdir()) == []
