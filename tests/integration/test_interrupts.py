"""An interrupt at any phase of a drill's life: everything the run started is gone, faults reverted, exit 3.

Each case runs one real drill with ``tests.interrupting``, which sends the run SIGINT or SIGTERM at one
phase: while the stack starts (just after a server's process started, or as soon as it answers), as the
writers and the crowd start, with the fault in place, during the recovery, while the reports are
written. The drill is the shortest with writers, a fault and a recovery (a bad release, rolled back);
for the crowd, MongoDB killed and restored from backup under 50 users.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chaos.guardian import KILL_TIMEOUT_S, log_path
from chaos.interrupts import EXIT_INTERRUPTED, GRACE_S
from chaos.servers.procfs import pid_alive
from chaos.wait import wait_for

ROOT = Path(__file__).resolve().parents[2]
PHASES = [
    "spawned:mongodb", "ready:mongodb", "spawned:redis", "ready:toxiproxy", "ready:prometheus", "spawned:app-0",
    "ready:app-2", "writers", "crowd", "fault", "recovery", "report",
]  # fmt: skip
# How long the run may take to reach its phase and stop: this drill passes in about 20 s here, and its
# stop, once interrupted, has the grace. Past that, the run is taken to hang (a leftover holding its pipes).
RUN_TIMEOUT_S = 120 + GRACE_S


@dataclass(frozen=True)
class Interrupted:
    pid: int
    returncode: int
    output: str  # its stdout and stderr
    ended: float  # wall-clock time its pipes closed
    lines: list[Any]  # the plugin's log: what the run started, where it was cut


def _interrupted_run(tmp_path: Path, phase: str, sig: str) -> Interrupted:
    drill = "killed_and_restored" if phase == "crowd" else "bad_release and returns"
    log = tmp_path / "interrupt.jsonl"
    log.touch()
    with subprocess.Popen(
        [sys.executable, "-m", "chaos.cli", "run", "-m", "drill", "-k", drill,
         "-p", "tests.interrupting", f"--workdir={tmp_path / 'runs'}", f"--ledger-dir={tmp_path / 'ledger'}",
         f"--drill-report-dir={tmp_path / 'report'}", f"--drill-history={tmp_path / 'history.jsonl'}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=os.environ | {"CHAOS_TEST_INTERRUPT": f"{phase}:{sig}", "CHAOS_TEST_INTERRUPT_LOG": str(log)},
    ) as runner:  # fmt: skip
        # Returns once the run's stdout and stderr are closed: a process it started that held them would
        # keep this waiting, and fail it.
        output, _ = runner.communicate(timeout=RUN_TIMEOUT_S)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    return Interrupted(runner.pid, runner.returncode, output, time.time(), lines)


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("phase", PHASES)
def test_an_interrupt_at_any_phase_stops_every_process_and_reverts_every_fault(
    tmp_path: Path, phase: str, sig: str
) -> None:
    result = _interrupted_run(tmp_path, phase, sig)
    lines = result.lines
    [interrupt] = [line for line in lines if "interrupted_at" in line]  # the phase was reached, the signal sent
    guardian, interrupted_at = interrupt.pop("guardian"), interrupt.pop("at")
    assert interrupt == {"interrupted_at": phase, "signal": sig, "holding_output": []}
    assert result.returncode == EXIT_INTERRUPTED, result.output[-3000:]
    # The run stopped itself in order within its grace (past it, it would have left the rest to its guardian).
    assert result.ended - interrupted_at < GRACE_S
    started = [line for line in lines if "pid" in line]
    assert started, "the run started nothing before its interrupt: the test proves nothing"
    # Stopped by the run itself, in order, before it exited: nothing was left for its guardian to kill.
    assert [line["name"] for line in started if pid_alive(line["pid"], line["ticks"])] == []
    # The guardian then found nothing to do: it exits and removes its log (it keeps one only to say what it did).
    wait_for(lambda: not pid_alive(guardian), what="the run's guardian to finish", timeout=KILL_TIMEOUT_S)
    guardian_log = log_path(result.pid)
    assert not guardian_log.exists(), guardian_log.read_text()
    assert list((tmp_path / "ledger").glob("*.json")) == []  # every fault reverted
    assert list((tmp_path / "runs").glob("run-*")) == []
    if phase == "report":  # an interrupt while the reports are written lets them finish
        assert (tmp_path / "report" / "compliance.html").is_file()
