"""An interrupt at any phase of a drill's life: everything the run started is gone, faults reverted, exit 3.

Each case runs one real drill (MongoDB killed and restored from backup, under a crowd of users) with
``tests.interrupting``, which sends the run SIGINT or SIGTERM at one phase: while the stack starts (just
after a server's process started, or as soon as it answers), as the writers and the crowd start, with
the fault in place, during the recovery, while the reports are written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
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
# The orderly stop has the grace; what it leaves the guardian kills at once after (chaos.guardian): the
# caller's pipes close within both.
STOPPED_WITHIN_S = GRACE_S + 15


def _interrupted_run(tmp_path: Path, phase: str, sig: str) -> tuple[subprocess.CompletedProcess[str], list[Any]]:
    """The run's outcome (``args``: its pid) and the plugin's log: what the run started, where it was cut."""
    log = tmp_path / "interrupt.jsonl"
    log.touch()
    with subprocess.Popen(
        [sys.executable, "-m", "chaos.cli", "run", "-m", "database_failure", "-k", "killed_and_restored",
         "-p", "tests.interrupting", f"--workdir={tmp_path / 'runs'}", f"--ledger-dir={tmp_path / 'ledger'}",
         f"--drill-report-dir={tmp_path / 'report'}", f"--drill-history={tmp_path / 'history.jsonl'}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=os.environ | {"CHAOS_TEST_INTERRUPT": f"{phase}:{sig}", "CHAOS_TEST_INTERRUPT_LOG": str(log)},
    ) as runner:  # fmt: skip
        # Returns once the run's stdout and stderr are closed: a process it started that held them would
        # keep this waiting, and fail it.
        out, err = runner.communicate(timeout=STOPPED_WITHIN_S)
    return subprocess.CompletedProcess(runner.pid, runner.returncode, out, err), [
        json.loads(line) for line in log.read_text().splitlines()
    ]


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("phase", PHASES)
def test_an_interrupt_at_any_phase_stops_every_process_and_reverts_every_fault(
    tmp_path: Path, phase: str, sig: str
) -> None:
    result, lines = _interrupted_run(tmp_path, phase, sig)
    [interrupt] = [line for line in lines if "interrupted_at" in line]  # the phase was reached, the signal sent
    guardian = interrupt.pop("guardian")
    assert interrupt == {"interrupted_at": phase, "signal": sig, "holding_output": []}
    assert result.returncode == EXIT_INTERRUPTED, result.stderr[-3000:]
    started = [line for line in lines if "pid" in line]
    assert started, "the run started nothing before its interrupt: the test proves nothing"
    # Stopped by the run itself, in order, before it exited: nothing was left for its guardian to kill.
    assert [line["name"] for line in started if pid_alive(line["pid"], line["ticks"])] == []
    # The guardian then found nothing to do: it exits and removes its log (it keeps one only to say what it did).
    wait_for(lambda: not pid_alive(guardian), what="the run's guardian to finish", timeout=KILL_TIMEOUT_S)
    guardian_log = log_path(result.args)
    assert not guardian_log.exists(), guardian_log.read_text()
    assert list((tmp_path / "ledger").glob("*.json")) == []  # every fault reverted
    assert list((tmp_path / "runs").glob("run-*")) == []
    if phase == "report":  # an interrupt while the reports are written lets them finish
        assert (tmp_path / "report" / "compliance.html").is_file()
