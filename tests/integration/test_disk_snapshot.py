"""On-disk corruption is only ever undone from a whole, verified copy (issue 10, item 6).

A runner killed while it copies a data file, or a copy damaged later, must never
lead `drill cleanup` to write a partial or wrong file over the data.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from chaos.faults import DiskCorruption, Ledger
from chaos.recovery.files import sha256_file

ROOT = Path(__file__).resolve().parents[2]

# Injects a disk corruption and is SIGKILLed by its own first fsync: mid-snapshot, the copy written but not renamed.
# Its guardian goes first: what the runner left is for `drill cleanup` (tests.runners).
KILLED_MID_SNAPSHOT = """
import os, signal, sys
from pathlib import Path
from chaos.faults import DiskCorruption, Ledger
from tests.runners import kill_guardian_of
os.fsync = lambda fd: (kill_guardian_of(os.getpid()), os.kill(os.getpid(), signal.SIGKILL))
DiskCorruption([Path(sys.argv[1])], "truncate", keep_fraction=0.0, ledger=Ledger(Path(sys.argv[2]))).inject()
"""
# Injects a disk corruption and dies, with its guardian, before reverting it.
KILLED_AFTER_INJECTING = """
import os, signal, sys
from pathlib import Path
from chaos.faults import DiskCorruption, Ledger
from tests.runners import kill_guardian_of
DiskCorruption([Path(sys.argv[1])], "flip", flips=16, ledger=Ledger(Path(sys.argv[2]))).inject()
kill_guardian_of(os.getpid())
os.kill(os.getpid(), signal.SIGKILL)
"""


def _data_file(tmp_path: Path, size: int = 1 << 20) -> Path:
    path = tmp_path / "data" / "collection-0.wt"
    path.parent.mkdir()
    path.write_bytes(os.urandom(size))
    return path


def _cleanup(ledger: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chaos.cli", "cleanup", "--ledger-dir", str(ledger), "--faults-only"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)  # fmt: skip


def test_a_runner_killed_mid_snapshot_leaves_the_data_whole_after_cleanup(tmp_path: Path) -> None:
    data, ledger = _data_file(tmp_path), tmp_path / "ledger"
    before = sha256_file(data)
    runner = subprocess.run([sys.executable, "-c", KILLED_MID_SNAPSHOT, str(data), str(ledger)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert runner.returncode == -signal.SIGKILL
    [entry] = ledger.glob("*.json")
    assert not list(entry.with_suffix(".snapshot").glob("*.orig"))  # only a temporary name, never a partial copy
    result = _cleanup(ledger)
    assert result.returncode == 0, result.stdout + result.stderr
    assert data.stat().st_size == 1 << 20
    assert sha256_file(data) == before


def test_a_damaged_copy_is_never_written_back(tmp_path: Path) -> None:
    data, ledger = _data_file(tmp_path), tmp_path / "ledger"
    subprocess.run([sys.executable, "-c", KILLED_AFTER_INJECTING, str(data), str(ledger)], cwd=ROOT, timeout=60)
    corrupted = sha256_file(data)
    [entry] = ledger.glob("*.json")
    [copy] = entry.with_suffix(".snapshot").glob("*.orig")
    copy.write_bytes(copy.read_bytes()[:4096])  # the copy lost most of itself after the corruption
    result = _cleanup(ledger)
    assert result.returncode == 1
    assert "could not revert" in result.stdout
    assert "does not match the SHA-256 recorded" in result.stdout
    assert sha256_file(data) == corrupted  # left as the fault left it, not truncated to the damaged copy
    assert data.stat().st_size == 1 << 20
    assert entry.exists()  # kept for a later attempt


def test_a_whole_copy_restores_the_file_exactly(tmp_path: Path) -> None:
    data, ledger = _data_file(tmp_path), tmp_path / "ledger"
    before = sha256_file(data)
    with DiskCorruption([data], "truncate", keep_fraction=0.1, ledger=Ledger(ledger)):
        assert data.stat().st_size < 1 << 20
    assert sha256_file(data) == before
    assert list(ledger.iterdir()) == []
