"""A lean keep-alive HTTP/1.1 client for the probe and writer hot loops.

httpx costs about 1.3 ms of client CPU per request here, http.client about
0.3 ms (bench/measurement.py's environment, measured on 2 cores); with a dozen
probe and writer threads sharing one interpreter, that difference decides
whether the prober holds its rate while the system under test is loaded.

Errors say what the client can know about the request's fate:
- ``refused``: the connection could not be opened, so nothing was sent;
- ``timeout`` / ``dropped``: the request may or may not have been processed.

The timeout is the request's own, whole: an answer that trickles in, each
piece within the timeout, but completes after it, is a timeout too.

A kept-alive connection the server closed while it was idle (a proxy cut and
healed, a restarted server) fails the next request sent on it before any answer
arrives. As HTTP clients do, such a request is sent once more on a new
connection: the server never saw the first one. (Were it not so, a request
that was processed would find its id taken: the writers count a 409 as unknown.)
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from typing import Any
from urllib.parse import urlsplit

__all__ = ["HttpClient", "RequestError"]


class RequestError(Exception):
    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


class _StaleConnection(Exception):
    """The connection failed before any answer came: what a closed idle keep-alive connection does."""


class HttpClient:
    """One keep-alive connection to ``base_url``; reconnects after an error."""

    def __init__(self, base_url: str, timeout: float) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"expected an http:// URL, got {base_url!r}")
        self.host, self.port = parts.hostname, parts.port or 80
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, path: str, body: Any = None, timeout: float | None = None) -> tuple[int, bytes]:
        """Send one request; returns (status, body) or raises RequestError."""
        limit = self.timeout if timeout is None else timeout
        started = time.monotonic()
        reused = self._conn is not None
        try:
            return self._exchange(method, path, body, limit, started)
        except _StaleConnection as stale:
            if not reused:
                raise RequestError("dropped", str(stale)) from None
        try:  # once more, on a new connection
            return self._exchange(method, path, body, limit, started)
        except _StaleConnection as stale:
            raise RequestError("dropped", str(stale)) from None
        except RequestError as exc:
            if exc.kind != "refused":
                raise
            # The first attempt was sent; a server going down may have acted on it before closing.
            # Nothing sent is not known, so this is not "refused" (a write's fate stays unknown).
            raise RequestError("dropped", f"sent on a connection that closed unanswered, then {exc}") from None

    def _exchange(self, method: str, path: str, body: Any, limit: float, started: float) -> tuple[int, bytes]:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=limit)
            try:
                self._conn.connect()
            except ConnectionRefusedError as exc:
                self.close()
                raise RequestError("refused", str(exc)) from None
            except TimeoutError:
                self.close()
                raise RequestError("refused", f"connect timed out after {limit:g}s") from None
            except OSError as exc:
                self.close()
                raise RequestError("refused", repr(exc)) from None
            self._conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = self._conn
        conn.sock.settimeout(limit)
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        try:
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
        except TimeoutError:
            self.close()
            raise RequestError("timeout", f"no answer within {limit:g}s") from None
        except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected) as exc:
            self.close()  # closed before any answer: the server saw nothing on this connection
            raise _StaleConnection(f"{type(exc).__name__}: {exc}") from None
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise RequestError("dropped", f"{type(exc).__name__}: {exc}") from None
        try:
            data = response.read()
        except TimeoutError:
            self.close()
            raise RequestError("timeout", f"no answer within {limit:g}s") from None
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise RequestError("dropped", f"{type(exc).__name__}: {exc}") from None
        if response.will_close:
            self.close()
        elapsed = time.monotonic() - started
        if elapsed > limit:
            self.close()
            raise RequestError("timeout", f"the answer took {elapsed:.2f}s, past the {limit:g}s timeout")
        return response.status, data
