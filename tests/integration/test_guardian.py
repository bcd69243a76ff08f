"""The guardian removes what its runner named and left, whichever way the runner ended, and nothing else."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from chaos.guardian import KILL_TIMEOUT_S, log_path
from chaos.servers.procfs import pid_alive, process_start_ticks
from chaos.wait import wait_for
from tests.runners import guardian_of

ROOT = Path(__file__).resolve().parents[2]

# A runner that starts a sleeping child and names a directory, prints both, then does what argv[2] says.
RUNNER = textwrap.dedent("""
    import os, signal, sys, time
    from pathlib import Path
    from chaos import guardian
    from chaos.servers.process import ManagedProcess, ProcessSpec
    from tests.runners import kill_guardian_of
    base = Path(sys.argv[1])
    child = ManagedProcess(ProcessSpec("sleeper", (sys.executable, "-c", "import time; time.sleep(600)"),
                                       base / "logs" / "sleeper.log"))
    made = base / "run"
    made.mkdir()
    guardian.watch("run-dir", path=str(made), keep=False)
    if sys.argv[2] == "clean":
        child.stop()
        import shutil; shutil.rmtree(made)
    if sys.argv[2] == "guardian-dies":
        kill_guardian_of(os.getpid())
        later = base / "later"
        later.mkdir()
        guardian.watch("run-dir", path=str(later), keep=False)  # a new guardian hears both
    print(child.pid, child.start_ticks, flush=True)
""")


def _runner(tmp_path: Path, how: str) -> tuple[int, int, int]:
    """Run RUNNER to its end; its pid and its child's pid and start ticks."""
    with subprocess.Popen([sys.executable, "-c", RUNNER, str(tmp_path), how], cwd=ROOT, stdout=subprocess.PIPE,
                          text=True) as runner:  # fmt: skip
        out, _ = runner.communicate(timeout=60)
    assert runner.returncode == 0
    pid, ticks = (int(word) for word in out.split())
    return runner.pid, pid, ticks


def _guardian_done(runner: int) -> None:
    wait_for(lambda: guardian_of(runner) is None, what="the guardian to end", timeout=KILL_TIMEOUT_S + 5)


def test_a_runner_that_returns_without_cleaning_up_leaves_nothing(tmp_path: Path) -> None:
    runner, child, ticks = _runner(tmp_path, "leave")
    _guardian_done(runner)
    assert not pid_alive(child, ticks)
    assert not (tmp_path / "run").exists()
    log = log_path(runner).read_text()
    assert f"killed process {child} (sleeper)" in log
    assert f"removed run directory {tmp_path / 'run'}" in log


def test_a_runner_that_cleaned_up_leaves_its_guardian_nothing_to_do(tmp_path: Path) -> None:
    runner, child, ticks = _runner(tmp_path, "clean")
    _guardian_done(runner)
    assert not pid_alive(child, ticks)
    assert not log_path(runner).exists()  # kept only to say what the guardian did


def test_a_guardian_that_died_is_started_again_and_hears_everything(tmp_path: Path) -> None:
    runner, child, ticks = _runner(tmp_path, "guardian-dies")
    _guardian_done(runner)
    assert not pid_alive(child, ticks)
    assert not (tmp_path / "run").exists()
    assert not (tmp_path / "later").exists()


def test_what_the_runner_did_not_name_is_left_alone(tmp_path: Path) -> None:
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])  # same program, not named
    try:
        (tmp_path / "someone-elses").mkdir()
        runner, child, ticks = _runner(tmp_path, "leave")
        _guardian_done(runner)
        assert not pid_alive(child, ticks)
        assert pid_alive(bystander.pid, process_start_ticks(bystander.pid))
        assert (tmp_path / "someone-elses").is_dir()
        assert str(bystander.pid) not in log_path(runner).read_text()
    finally:
        bystander.kill()
        bystander.wait()
