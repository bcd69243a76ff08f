"""Every server a test starts is gone when the session ends: a leak fails the run, naming the processes.

Each session marks the processes it starts with a token in their environment (servers inherit the
environment of whoever starts them; a session a test starts keeps its starter's token, so what it
leaks is the starter's leak too). A server marked by another session, of another checkout on the same
machine, is that session's business; an unmarked one (a container's process) still counts.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

SERVERS = ("ferretdb", "redis-server", "toxiproxy-server", "sandbox.calendar_assistant", "prometheus --config",
           "chaos.cli sandbox serve")  # fmt: skip
SESSION = "CHAOS_TEST_SESSION"
STARTED_BEFORE = pytest.StashKey[set[int]]()


def _other_session(entry: Path) -> bool:
    """Whether the process carries the session token of another test session."""
    try:
        environ = (entry / "environ").read_bytes().split(b"\0")
    except OSError:
        return False
    mark = f"{SESSION}=".encode()
    return any(item.startswith(mark) and item != mark + os.environ[SESSION].encode() for item in environ)


def _servers() -> dict[int, str]:
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(name in command for name in SERVERS) and not _other_session(entry):
            found[int(entry.name)] = command[:160]
    return found


def pytest_sessionstart(session: pytest.Session) -> None:
    os.environ.setdefault(SESSION, uuid.uuid4().hex)  # a session a test started shares its starter's token
    session.config.stash[STARTED_BEFORE] = set(_servers())


@pytest.hookimpl(trylast=True)  # after pytest has torn the fixtures down, also those of an interrupted test
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    before = session.config.stash.get(STARTED_BEFORE, None)
    if before is None:
        return
    deadline = time.monotonic() + 10
    while (leaked := {pid: command for pid, command in _servers().items() if pid not in before}) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.5)
    if leaked:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("servers left running after the tests (a test or drill leaked them):", red=True)
            for pid, command in sorted(leaked.items()):
                reporter.write_line(f"  {pid} {command}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
