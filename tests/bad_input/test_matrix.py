"""Bad input, as a careless user gives it: a clear message, the right exit code, and nothing touched (issue 11).

Each case runs the real ``drill`` (or pytest) against a live sandbox holding
data, and then checks that no document, key, process, proxy or file changed,
and that nothing printed a traceback.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from chaos.servers.process import pid_alive

if TYPE_CHECKING:
    from tests.bad_input.conftest import Live

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Case:
    name: str
    argv: tuple[str, ...]  # "drill ..." or "pytest ..."; {sandbox}, {files}, {scratch}, {mongodb}, {redis} filled in
    code: int
    message: str


SANDBOX = ("--sandbox-workdir", "{sandbox}")
RUN = ("drill", "run", "-m", "database_failure", "--workdir={scratch}/runs", "--ledger-dir={scratch}/ledger",
       "--drill-report-dir={scratch}/report")  # fmt: skip

# fmt: off
CASES = [
    # restores that would lose live data
    Case("restore-undecodable-documents",
         ("drill", "restore", "mongodb", "--backup-dir", "{files}/backups/bad-bson", *SANDBOX),
         1, "does not decode as BSON"),
    Case("verify-undecodable-documents",
         ("drill", "verify", "mongodb-backup", "--backup-dir", "{files}/backups/bad-bson"),
         1, "does not decode as BSON"),
    Case("restore-empty-backup-of-a-mistyped-database",
         ("drill", "restore", "mongodb", "--backup-dir", "{files}/backups/empty-calender", *SANDBOX),
         2, "holds no document; restoring it would empty the live database"),
    Case("restore-backup-of-another-database",
         ("drill", "restore", "mongodb", "--backup-dir", "{files}/backups/other", *SANDBOX),
         2, "was taken of database 'other', not of 'calendar'"),
    Case("restore-into-empty-name",
         ("drill", "restore", "mongodb", "--backup-dir", "{files}/backups/mongodb", "--into", "", *SANDBOX),
         2, "argument --into: '' is not a MongoDB database name"),
    Case("restore-into-the-live-database",
         ("drill", "restore", "mongodb", "--backup-dir", "{files}/backups/mongodb", "--into", "calendar", *SANDBOX),
         2, "that is the live database"),
    Case("restore-uri-with-an-invalid-option",
         ("drill", "restore", "mongodb", "--backup-dir", "{files}/backups/mongodb",
          "--mongodb-uri", "{mongodb_base}/?directConnection=maybe"),
         2, "directconnection must be 'true' or 'false'"),
    Case("restore-empty-redis-backup",
         ("drill", "restore", "redis", "--backup-dir", "{files}/backups/empty-redis", *SANDBOX),
         2, "holds no key; restoring it would empty the live Redis"),
    Case("backup-of-a-mistyped-database",
         ("drill", "backup", "mongodb", "--database", "calender", "--output", "{scratch}/out", *SANDBOX),
         2, "has no database 'calender'"),
    Case("backup-of-a-mistyped-database-by-uri",
         ("drill", "backup", "mongodb", "--mongodb-uri", "{mongodb}", "--database", "calender",
          "--output", "{scratch}/out"),
         2, "has no database 'calender'"),
    # outputs
    Case("backup-output-is-a-file",
         ("drill", "backup", "mongodb", "--output", "{files}/a-file", *SANDBOX),
         2, "exists and is not a directory"),
    Case("backup-output-under-proc",
         ("drill", "backup", "mongodb", "--output", "/proc/drill-backup", *SANDBOX),
         2, "under a system directory"),
    Case("backup-output-not-empty",
         ("drill", "backup", "mongodb", "--output", "{files}/full", *SANDBOX),
         2, "not empty; a backup goes into a new, empty directory"),
    Case("backup-uri-of-the-wrong-scheme",
         ("drill", "backup", "mongodb", "--mongodb-uri", "http://127.0.0.1:1", "--output", "{scratch}/out"),
         2, "is not a mongodb:// or mongodb+srv://"),
    Case("verify-redis-url-of-the-wrong-scheme",
         ("drill", "verify", "redis-data", "--redis-url", "{mongodb}"),
         2, "is not a redis://, rediss:// or unix:// URL"),
    # the sandbox and its state
    Case("sandbox-status-with-a-garbled-state",
         ("drill", "sandbox", "status", "--workdir", "{files}/state-garbled"),
         2, "not a readable sandbox state file"),
    Case("sandbox-up-with-other-replicas",
         ("drill", "sandbox", "up", "--workdir", "{sandbox}", "--replicas", "5"),
         2, "a sandbox with 1 replicas already runs"),
    Case("sandbox-up-with-zero-replicas",
         ("drill", "sandbox", "up", "--workdir", "{scratch}/sb", "--replicas", "0"),
         2, "argument --replicas: 0 is outside 1..16"),
    # cleanup
    Case("cleanup-binary-ledger-entry",
         ("drill", "cleanup", "--faults-only", "--ledger-dir", "{files}/ledger-binary"),
         1, "left in place"),
    Case("cleanup-truncated-ledger-entry",
         ("drill", "cleanup", "--faults-only", "--ledger-dir", "{files}/ledger-truncated"),
         1, "left in place"),
    # drill watch
    Case("watch-duration-nan",
         ("drill", "watch", "--duration", "nan", "--sandbox-workdir", "{sandbox}"),
         2, "argument --duration: 'nan' must be a finite number"),
    Case("watch-app-not-a-url",
         ("drill", "watch", "--duration", "1", "--app", "notaurl", "--mongodb-uri", "{mongodb}",
          "--redis-url", "{redis}"),
         2, "'notaurl' is not an http:// or https://"),
    Case("watch-out-is-a-file",
         ("drill", "watch", "--duration", "1", "--out", "{files}/a-file", "--sandbox-workdir", "{sandbox}"),
         2, "argument --out: "),
    Case("watch-binary-budgets",
         ("drill", "watch", "--duration", "1", "--budgets", "{files}/budgets-binary.yaml",
          "--sandbox-workdir", "{sandbox}"),
         2, "not UTF-8 text"),
    # evidence
    Case("evidence-verify-a-file", ("drill", "evidence", "verify", "{files}/a-file"), 2, "not a directory"),
    # budgets, targets and options, through drill run
    Case("run-budgets-binary", (*RUN, "--budgets={files}/budgets-binary.yaml"), 2, "not UTF-8 text"),
    Case("run-budgets-infinite", (*RUN, "--budgets={files}/budgets-inf.yaml"), 2, "must be a finite"),
    Case("run-budgets-absurd", (*RUN, "--budgets={files}/budgets-huge.yaml"), 2, "longer than a year"),
    Case("run-budgets-alias-bomb", (*RUN, "--budgets={files}/budgets-bomb.yaml"), 2, "alias *a is not allowed"),
    Case("run-budgets-duplicate-key", (*RUN, "--budgets={files}/budgets-dup.yaml"), 2, "duplicate key 'database'"),
    Case("run-budgets-missing-for-the-drill", (*RUN, "--budgets={files}/budgets-norto.yaml"),
         2, "has no RTO budget for 'database'"),
    Case("run-targets-binary", (*RUN, "--targets={files}/targets-binary.yaml"), 2, "targets file"),
    Case("run-targets-bool-fraction", (*RUN, "--targets={files}/targets-bool.yaml"),
         2, "max_fraction: expected a number in (0, 1], got True"),
    Case("run-notify-variable-unset", (*RUN, "--targets={files}/targets-notify-unset.yaml"),
         2, "environment variables that are not set: DRILL_TEST_UNSET_TOKEN (team)"),
    Case("run-notify-unknown-scheme", (*RUN, "--targets={files}/targets-notify-scheme.yaml"),
         2, "targets.sandbox.notifications.team[0]: Apprise cannot use slak://chat.invalid"),
    Case("run-communication-budget-zero", (*RUN, "--budgets={files}/budgets-communication-zero.yaml"),
         2, "communication.team_notified: must be longer than 0s"),
    Case("run-probe-interval-zero", (*RUN, "--probe-interval=0"), 2, "argument --probe-interval: '0' must be"),
    Case("run-report-dir-under-proc", (*RUN[:-1], "--drill-report-dir=/proc/drill"), 2, "under a system directory"),
]
# fmt: on


def _command(case: Case, live: Live) -> list[str]:
    mongodb = live.endpoints["mongodb_uri"]
    fill = {"sandbox": str(live.workdir), "files": str(live.files), "scratch": str(live.scratch), "mongodb": mongodb,
            "mongodb_base": mongodb.split("/?")[0], "redis": live.endpoints["redis_url"]}  # fmt: skip
    words = [word.format(**fill) for word in case.argv]
    program = ["-m", "chaos.cli"] if words[0] == "drill" else ["-m", "pytest", "-p", "no:cacheprovider"]
    return [sys.executable, *program, *words[1:]]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_is_refused_and_changes_nothing(case: Case, live: Live) -> None:
    before = live.fingerprint()
    started = time.monotonic()
    result = subprocess.run(_command(case, live), cwd=ROOT, capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == case.code, output[-3000:]
    assert case.message in output, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert time.monotonic() - started < 60  # refused up front, not after a long run
    assert live.fingerprint() == before


def test_a_state_file_naming_another_process_signals_nothing(live: Live, tmp_path: Path) -> None:
    """`drill sandbox down` on a state file whose pid is not the daemon it recorded: that process lives on."""
    workdir = tmp_path / "stale"
    workdir.mkdir()
    (workdir / "sandbox.json").write_bytes((live.files / "state-pid1" / "sandbox.json").read_bytes())
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as bystander:
        try:
            pid1 = {**json.loads((live.files / "state-pid1" / "sandbox.json").read_text()),
                    "workdir": str(workdir.resolve())}  # fmt: skip
            for state in (pid1, {**pid1, "pid": bystander.pid}):
                (workdir / "sandbox.json").write_text(json.dumps(state))
                command = [sys.executable, "-m", "chaos.cli", "sandbox", "down", "--workdir", str(workdir)]
                result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
                assert result.returncode == 0, result.stderr
                assert "no sandbox was running" in result.stderr
                assert pid_alive(1)
                assert bystander.poll() is None  # same pid as the file says, but not the process it recorded
        finally:
            bystander.kill()


def test_a_copied_state_file_stops_nothing(live: Live, tmp_path: Path) -> None:
    """The live sandbox's own state file, copied elsewhere: `sandbox down` there signals nothing, exit 2."""
    elsewhere = tmp_path / "copy"
    elsewhere.mkdir()
    shutil.copy2(live.workdir / "sandbox.json", elsewhere / "sandbox.json")
    daemon = json.loads((live.workdir / "sandbox.json").read_text())
    before = live.fingerprint()
    command = [sys.executable, "-m", "chaos.cli", "sandbox", "down", "--workdir", str(elsewhere)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert f"the state of the sandbox in {live.workdir.resolve()}, not of {elsewhere.resolve()}" in result.stderr
    assert pid_alive(daemon["pid"], daemon["start_ticks"])
    assert live.fingerprint() == before
