"""What a crowd's request log says it observed: never a window after its users fell silent."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import TYPE_CHECKING

from chaos.measure.crowd import FLUSH_S, THINK_S, Crowd
from steps.load import _wait_observed

if TYPE_CHECKING:
    from pathlib import Path


def _write_log(path: Path, t0: float, *, requests_until: float, marks_until: float) -> None:
    """A log like the locustfile's: a request a second to ``requests_until``, then flush marks only (users
    gone, locust still flushing) every quarter second to ``marks_until``."""
    lines = []
    t = t0
    while t < requests_until:
        lines.append({"t": t, "s": 0.05, "name": "browse week", "ok": True, "status": 200})
        t += 1.0
    mark = t0
    while mark <= marks_until:
        lines.append({"observed_until": mark})
        mark += FLUSH_S
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_a_crowd_whose_users_fell_silent_observes_no_window_after_them(tmp_path: Path) -> None:
    t0 = 1_000_000.0
    crowd = Crowd(["http://127.0.0.1:1"], 1, tmp_path)
    _write_log(crowd.log_path, t0, requests_until=t0 + 3.5, marks_until=t0 + 20)
    requests = crowd.requests()
    last_end = max(request.ended for request in requests)
    assert last_end < t0 + 3.5
    # the log's own marks reach t0 + 20; the users were last heard at last_end
    assert crowd.observed_until() == last_end + THINK_S[1] + FLUSH_S
    assert crowd.observed_until() < t0 + 10


def test_a_crowd_still_active_observes_what_its_log_says(tmp_path: Path) -> None:
    t0 = 1_000_000.0
    crowd = Crowd(["http://127.0.0.1:1"], 1, tmp_path)
    _write_log(crowd.log_path, t0, requests_until=t0 + 20, marks_until=t0 + 19)
    crowd.requests()
    assert crowd.observed_until() == t0 + 19


def test_waiting_for_a_window_silent_users_never_reach_gives_up(tmp_path: Path) -> None:
    crowd = Crowd(["http://127.0.0.1:1"], 1, tmp_path, request_timeout=0.5)
    now = time.time()
    _write_log(crowd.log_path, now - 10, requests_until=now - 9, marks_until=now)
    crowd._process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # locust alive
    try:
        until = now + 1
        started = time.monotonic()
        _wait_observed(crowd, until)
        waited = time.monotonic() - started
        assert crowd.running
        assert crowd.observed_until() < until
        assert waited <= crowd.gives_up_at(until) - now + 1.0  # one second for the loop's last sleep and the start
    finally:
        crowd._process.kill()
        crowd._process.wait()
