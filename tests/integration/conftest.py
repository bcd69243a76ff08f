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
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import httpx
import pymongo
import pymongo.errors
import pytest
import redis

from chaos.targets.local import LocalTarget

if TYPE_CHECKING:
    from collections.abc import Iterator

# (request path, how many requests for that path came before) -> (seconds to wait, status to answer instead)
Policy = Callable[[str, int], tuple[float, int | None]]
Front = Callable[[str, Policy], str]  # (upstream URL, policy) -> the front's URL


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in item.nodeid:
            item.add_marker(pytest.mark.integration)


@dataclass
class _Shared:
    """The sandbox a module's tests share, and how it looked when it was handed out."""

    target: LocalTarget | None = None
    state: object = None


def _state(target: LocalTarget) -> object:
    """What a test may change and a fresh sandbox would not have: the processes (a kill, a restart), the
    release, the persistence mode, the links (disabled, with toxics)."""
    proxies = httpx.get(f"{target.endpoints.toxiproxy_api}/proxies", timeout=5).json()
    links = sorted((name, proxy["enabled"], len(proxy["toxics"])) for name, proxy in proxies.items())
    return (target.status(), dict(target.release), target.redis_persistence, links)


def _serving(target: LocalTarget) -> bool:
    try:
        return all(httpx.get(f"{url}/health", timeout=2).status_code == 200 for url in target.endpoints.apps)
    except httpx.HTTPError:
        return False


def _empty(target: LocalTarget) -> None:
    """Every database and key the test wrote dropped: the stores as a fresh sandbox has them."""
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(target.endpoints.mongodb_uri,
                                                                      serverSelectionTimeoutMS=5000)  # fmt: skip
    try:
        for name in set(client.list_database_names()) - {"admin", "config", "local"}:
            client.drop_database(name)
    finally:
        client.close()
    store = redis.Redis.from_url(target.endpoints.redis_url, socket_timeout=5)
    try:
        store.flushall()
    finally:
        store.close()


@pytest.fixture(scope="module")
def _shared_sandbox() -> Iterator[_Shared]:
    shared = _Shared()
    yield shared
    if shared.target is not None:
        shared.target.close()


@pytest.fixture
def sandbox(_shared_sandbox: _Shared, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalTarget]:
    """A running sandbox (3 replicas) with empty stores, as a fresh one would be.

    The tests of a module share it while each leaves it as it found it (the same processes, none
    restarted, the same release, persistence and links): starting one is most of a short test's time. A
    test that changed it, or left it not serving, has it closed afterwards, and the next gets a new one.
    """
    shared = _shared_sandbox
    if shared.target is None:
        target = LocalTarget(tmp_path_factory.mktemp("sandbox") / "runs", replicas=3)
        target.start()
        shared.target, shared.state = target, _state(target)
    yield shared.target
    try:
        pristine = _serving(shared.target) and _state(shared.target) == shared.state
        if pristine:
            _empty(shared.target)
    except (httpx.HTTPError, pymongo.errors.PyMongoError, redis.RedisError, OSError):
        pristine = False
    if not pristine:
        shared.target.close()
        shared.target = None


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
