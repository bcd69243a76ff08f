"""Integration tests start real servers; each gets its own sandbox in a temporary directory."""

from __future__ import annotations

import collections
import contextlib
import http.client
import itertools
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest

from chaos.targets.local import LocalTarget

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

# (request path, how many requests for that path came before) -> (seconds to wait, status to answer instead)
Policy = Callable[[str, int], tuple[float, int | None]]
Front = Callable[[str, Policy], str]  # (upstream URL, policy) -> the front's URL


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in item.nodeid:
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[LocalTarget]:
    target = LocalTarget(tmp_path / "runs", replicas=3)
    target.start()
    try:
        yield target
    finally:
        target.close()


@pytest.fixture
def front() -> Iterator[Front]:
    """Real HTTP servers in front of an app replica, answering as a policy says: slowly, or with an error.

    ``front(upstream_url, policy)`` returns the front's URL; every request is relayed over a keep-alive
    connection per client connection, after the policy's delay, unless the policy names a status.
    """
    servers: list[ThreadingHTTPServer] = []

    def start(upstream_url: str, policy: Policy) -> str:
        upstream = upstream_url.split("//", 1)[1]
        counts: collections.defaultdict[str, itertools.count[int]] = collections.defaultdict(itertools.count)
        lock = threading.Lock()

        class Relay(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                self.upstream = http.client.HTTPConnection(upstream, timeout=5)

            def finish(self) -> None:
                super().finish()
                self.upstream.close()

            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    nth = next(counts[self.path])
                delay, status = policy(self.path, nth)
                time.sleep(delay)
                if status is not None:
                    reply = b'{"error": "answered by the test front"}'
                else:
                    self.upstream.request(self.command, self.path, body=body or None,
                                          headers={"Content-Type": "application/json"})  # fmt: skip
                    answer = self.upstream.getresponse()
                    status, reply = answer.status, answer.read()
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_GET = do_PUT = do_POST = _relay

        server = ThreadingHTTPServer(("127.0.0.1", 0), Relay)
        server.daemon_threads = True
        server.handle_error = lambda request, address: None  # type: ignore[method-assign]  # a client hung up
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def busy(cores: int) -> Iterator[None]:
    """``cores`` processes that each keep a core busy, stopped on the way out: a loaded CI runner."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores)]
    try:
        time.sleep(0.5 if cores else 0.0)  # let them reach full speed
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


ALL_CORES = os.cpu_count() or 2
