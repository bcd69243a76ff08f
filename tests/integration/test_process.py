"""Signals to the sandbox's processes do what they say: a SIGTERM is never turned into a SIGKILL unseen."""

from __future__ import annotations

import signal
import sys
from typing import TYPE_CHECKING

from chaos.servers.process import ManagedProcess, ProcessSpec
from chaos.wait import wait_for

if TYPE_CHECKING:
    from pathlib import Path

STUBBORN = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
)


def test_a_process_that_ignores_sigterm_is_left_running_for_the_caller_to_see(tmp_path: Path) -> None:
    log = tmp_path / "stubborn.log"
    process = ManagedProcess(ProcessSpec("stubborn", (sys.executable, "-c", STUBBORN), log))
    try:
        wait_for(lambda: "ready" in log.read_text(), what="the process to ignore SIGTERM", timeout=10)
        assert process.kill(signal.SIGTERM, timeout=0.5) is False
        assert process.alive()  # not escalated to SIGKILL behind the caller's back
    finally:
        process.stop(timeout=0.5)  # a stop does escalate, and says so in its contract
    assert not process.alive()
