"""The crowd of simulated users: locust in its own process, against the real app, never outliving the drill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from typing import TYPE_CHECKING

import pytest

from chaos.measure.crowd import Crowd
from chaos.wait import wait_for
from tests.runners import kill_with_guardian

if TYPE_CHECKING:
    from pathlib import Path

    from chaos.targets.local import LocalTarget
    from tests.integration.conftest import Front

pytestmark = pytest.mark.integration


def test_users_work_through_the_app_and_locust_writes_its_statistics(sandbox: LocalTarget, tmp_path: Path) -> None:
    crowd = Crowd(sandbox.endpoints.apps, 10, tmp_path).start()
    try:
        wait_for(lambda: sum(r.ok and r.name == "sign in" for r in crowd.requests()) >= 10, what="10 sign-ins",
                 timeout=30)  # fmt: skip
        wait_for(lambda: {"browse week", "create event"} <= {r.name for r in crowd.requests() if r.ok},
                 what="users browsing and creating events", timeout=30)  # fmt: skip
    finally:
        code = crowd.stop()
    assert code == 0, crowd.output_tail()
    requests = crowd.requests()
    assert all(r.ok for r in requests), [r for r in requests if not r.ok][:5]
    stats = json.loads((tmp_path / "locust-stats.json").read_text())
    assert sum(entry["num_requests"] for entry in stats) == len(requests)  # locust saw what we logged
    assert (tmp_path / "locust_stats.csv").is_file()
    log = (tmp_path / "user-requests.jsonl").read_text()
    assert "load.invalid" not in log
    assert "Load User" not in log


def test_the_log_says_how_far_it_is_complete_and_waits_for_a_slow_request(
    sandbox: LocalTarget, front: Front, tmp_path: Path
) -> None:
    """Each flush ends with the start of the oldest request still waiting: no request that started before
    it comes later in the log, and a slow request holds it back until its answer comes."""
    slow_s = 2.0
    slowed: list[str] = []  # one request in all is slow: the first to any /events path, whichever user sent it
    lock = threading.Lock()  # the front answers each connection in its own thread

    def policy(path: str, _nth: int) -> tuple[float, None]:
        with lock:
            if "/events" in path and not slowed:
                slowed.append(path)
                return slow_s, None
        return 0.0, None

    url = front(sandbox.endpoints.apps[0], policy)
    crowd = Crowd([url], 2, tmp_path).start()
    try:
        wait_for(lambda: any(r.seconds >= slow_s for r in crowd.requests()), what="the slow request to end",
                 timeout=60)  # fmt: skip
        wait_for(lambda: crowd.observed_until() > max(r.started for r in crowd.requests() if r.seconds >= slow_s),
                 what="the log to be complete past it", timeout=10)  # fmt: skip
    finally:
        crowd.stop()
    lines = [json.loads(line) for line in (tmp_path / "user-requests.jsonl").read_text().splitlines()]
    marks = [(index, line["observed_until"]) for index, line in enumerate(lines) if "observed_until" in line]
    requests = [(index, line["t"], line["t"] + line["s"]) for index, line in enumerate(lines) if "t" in line]
    assert len(marks) > 4
    assert requests
    late = [(mark, start) for at, mark in marks for index, start, _ in requests if index > at and start < mark]
    assert late == [], "a request logged after a mark that said the log was complete past its start"
    slow_at, slow_start, slow_end = max(requests, key=lambda request: request[2] - request[1])
    assert slow_end - slow_start >= slow_s
    # While it waited (2 s: some 8 flushes), the marks stayed at its start (the other user's requests are short).
    held = [mark for at, mark in marks if at < slow_at and slow_start - 0.5 <= mark <= slow_start]
    assert len(held) >= 3, f"the marks were not held at the slow request's start while it waited: {marks}"
    assert any(slow_start < mark for at, mark in marks if at > slow_at)  # ... and moved on once it was logged


def test_a_refused_connection_goes_to_the_next_replica(sandbox: LocalTarget, tmp_path: Path) -> None:
    dead = "http://127.0.0.1:9"  # discard: nothing listens
    crowd = Crowd([dead, *sandbox.endpoints.apps[:1]], 4, tmp_path).start()
    try:
        wait_for(lambda: sum(r.retried for r in crowd.requests()) >= 5, what="requests retried", timeout=30)
    finally:
        crowd.stop()
    requests = crowd.requests()
    failed = [r for r in requests if not r.ok][:5]
    assert not failed, f"a refused connection sent nothing: the next replica must have answered; {failed}"


def test_the_crowd_stops_when_the_drill_process_dies(sandbox: LocalTarget, tmp_path: Path) -> None:
    """A drill killed with SIGKILL cannot stop its crowd: the crowd notices its parent is gone."""
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(os.getcwd())!r})
        from pathlib import Path
        from chaos.measure.crowd import Crowd
        crowd = Crowd({list(sandbox.endpoints.apps)!r}, 2, Path({str(tmp_path)!r})).start()
        print(crowd._process.pid, flush=True)
        time.sleep(600)
    """)
    drill = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    locust_pid = 0
    try:
        assert drill.stdout is not None
        locust_pid = int(drill.stdout.readline())
        wait_for(lambda: (tmp_path / "user-requests.jsonl").stat().st_size > 0, what="the crowd's first request",
                 timeout=30, not_yet=(FileNotFoundError,))  # fmt: skip
        kill_with_guardian(drill)  # its guardian too: the crowd's own watch of its parent is what is tested
        # The locustfile checks its parent every 0.5 s, then gives its users locust's --stop-timeout (5 s).
        wait_for(lambda: not _alive(locust_pid), what="locust to exit after its drill died", timeout=30)
    finally:
        if drill.poll() is None:
            drill.kill()
        drill.wait()
        if drill.stdout is not None:
            drill.stdout.close()
        if locust_pid and _alive(locust_pid):
            os.kill(locust_pid, signal.SIGKILL)
    time.sleep(0.5)
    size = (tmp_path / "user-requests.jsonl").stat().st_size
    time.sleep(1.0)
    assert (tmp_path / "user-requests.jsonl").stat().st_size == size, "requests still being sent"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
