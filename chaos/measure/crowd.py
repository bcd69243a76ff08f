"""A crowd of simulated Calendar Assistant users: locust, in a process of its own.

locust patches the standard library with gevent when it is imported, which
would change how every thread of a drill behaves; so the drill never imports
it. It runs ``load/calendar_users.py`` as ``python -m locust`` and reads the
request log that file writes (one JSON line per request, flushed every quarter
second, each flush ending with how far the log is complete) while the crowd runs.

Bounded: the crowd stops when the drill stops it (SIGINT, so locust writes its
statistics), after ``max_run_s`` whatever happens, and within a second of the
drill's own process disappearing (the locustfile watches its parent).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from chaos import guardian, interrupts
from chaos.errors import StartupError
from chaos.measure.load import UserRequest
from chaos.servers.procfs import process_start_ticks

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["FLUSH_S", "LOCUSTFILE", "THINK_S", "Crowd"]

LOCUSTFILE = Path(__file__).resolve().parent.parent.parent / "load" / "calendar_users.py"
THINK_S = (2.0, 6.0)  # seconds a user thinks between two actions, at least and at most
SPAWN_RATE = 50  # users started per second (a drill's 50 within one): each signs up and in as it starts
FLUSH_S = 0.25  # how often the locustfile writes its request log out
STATS_PREFIX = "locust"  # locust_stats.csv, locust_stats_history.csv, locust_failures.csv, locust_exceptions.csv


class Crowd:
    """``users`` simulated users spread over ``urls`` (one URL: a load balancer; several: one request each in turn)."""

    def __init__(self, urls: Sequence[str], users: int, evidence_dir: Path, *, request_timeout: float = 5.0,
                 max_run_s: float = 1800.0, user_prefix: str = "load") -> None:  # fmt: skip
        if not urls:
            raise ValueError("a crowd needs at least one URL")
        self.urls = tuple(urls)
        self.users = users
        self.request_timeout = request_timeout
        self.max_run_s = max_run_s
        self.user_prefix = user_prefix
        self.evidence_dir = evidence_dir
        self.log_path = evidence_dir / "user-requests.jsonl"
        self.output_path = evidence_dir / "locust.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._offset = 0
        self._partial = b""
        self._requests: list[UserRequest] = []
        self._read_at = 0.0  # wall-clock time of the last read of the log
        self._complete_until: float | None = None  # what the log's last flush said of itself
        self._last_end: float | None = None  # the latest end of a logged request: the users were alive then

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary",
            "--users", str(self.users), "--spawn-rate", str(min(self.users, SPAWN_RATE)),
            "--run-time", f"{math.ceil(self.max_run_s)}s",
            "--stop-timeout", "5", "--exit-code-on-error", "0", "--loglevel", "WARNING",
            "--host", self.urls[0], "--replica-urls", ",".join(self.urls), "--request-log", str(self.log_path),
            "--request-timeout", f"{self.request_timeout:g}", "--user-prefix", self.user_prefix,
            "--drill-parent", str(os.getpid()), "--think-s", ",".join(f"{seconds:g}" for seconds in THINK_S),
            "--csv", str(self.evidence_dir / STATS_PREFIX), "--json-file", str(self.evidence_dir / "locust-stats"),
        ]  # fmt: skip

    def start(self) -> Crowd:
        self.evidence_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.write_bytes(b"")
        with self.output_path.open("wb") as output, interrupts.deferred():
            # Its own session: a Ctrl-C at the terminal reaches the drill, which stops the crowd itself.
            self._process = subprocess.Popen(self.command(), stdout=output, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, start_new_session=True,
                                             env={**os.environ, "PYTHONUNBUFFERED": "1",
                                                  **guardian.child_environment()})  # fmt: skip
            ticks = process_start_ticks(self._process.pid)
            if ticks is not None:  # None: it has already exited
                guardian.watch("process", pid=self._process.pid, ticks=ticks, name="crowd (locust)")
        return self

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def output_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.output_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def check_running(self) -> None:
        """Raise, with locust's last words, when the crowd has stopped on its own."""
        if self._process is not None and self._process.poll() is not None:
            raise StartupError(f"the crowd (locust) exited with code {self._process.returncode}:\n"
                               f"{self.output_tail()}")  # fmt: skip

    def requests(self) -> list[UserRequest]:
        """Every request logged so far, in the order they ended."""
        with self._lock:
            read_at = time.time()
            try:
                with self.log_path.open("rb") as log:
                    log.seek(self._offset)
                    chunk = log.read()
            except FileNotFoundError:
                chunk = b""
            self._offset += len(chunk)
            lines = (self._partial + chunk).split(b"\n")
            self._partial = lines.pop()  # an unfinished line waits for the rest
            for line in lines:
                if not line.strip():
                    continue
                entry = json.loads(line)
                if "observed_until" in entry:
                    self._complete_until = float(entry["observed_until"])
                else:
                    request = UserRequest.from_json(entry)
                    self._requests.append(request)
                    self._last_end = max(request.ended, self._last_end or request.ended)
            self._read_at = read_at
            return list(self._requests)

    def observed_until(self) -> float:
        """Wall-clock time until which the users were there and every request they started is in the log.

        What the log says of itself: the start of the oldest request still waiting for its answer when it
        was last flushed. Before its first flush, what the longest request allows: a request that started
        any later may still be waiting, for up to its timeout, then a flush.

        Never later than the latest end of a logged request plus the longest think time and a flush: a
        user still there has, by then, either sent its next request or logged one, so a crowd whose users
        stopped (its locust alive, its log still flushed) covers no window after they did.
        """
        complete = self._complete_until
        if complete is None:
            complete = self._read_at - FLUSH_S - self.request_timeout
        if self._last_end is not None:
            complete = min(complete, self._last_end + THINK_S[1] + FLUSH_S)
        return complete

    def gives_up_at(self, until: float) -> float:
        """Wall-clock time by which a crowd still there has observed ``until``: its slowest request, its
        longest think and a flush after it. Past it, a window still not observed never will be."""
        return until + self.request_timeout + THINK_S[1] + 2 * FLUSH_S

    def stop(self, timeout: float = 20.0) -> int | None:
        """Stop the crowd as Ctrl-C would, so locust writes its statistics; kill it if it does not go."""
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.requests()
        return process.returncode
