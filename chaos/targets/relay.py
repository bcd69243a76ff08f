"""A fixed local address for a replica whose pod comes and goes: what `kubectl port-forward` is to one pod.

The prober keeps one stream per replica, at one address. On Kubernetes a replica
is a pod, and a replaced pod has another name and IP. A ``Relay`` listens on
127.0.0.1 and passes each connection to the pod that holds its slot now, as
``resolve`` says. While the slot has no pod, a connection is closed at once (the
prober sees the replica down). When the slot's pod changes, the connections to
the old one are cut, as a port-forward to a deleted pod breaks: nothing is
answered on behalf of a pod, and nothing is retried.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Relay"]

CONNECT_TIMEOUT_S = 2.0
CHUNK = 65536


class Relay:
    """Listen on ``127.0.0.1:port`` and pipe every connection to ``resolve()`` (host, port), or close it."""

    def __init__(self, resolve: Callable[[], tuple[str, int] | None], *, port: int = 0) -> None:
        self._resolve = resolve
        self._server = socket.create_server(("127.0.0.1", port), backlog=128)
        self.port = int(self._server.getsockname()[1])
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, name=f"relay :{self.port}", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(client,), name=f"relay :{self.port} conn", daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream_address = self._resolve()
        if upstream_address is None:
            _close(client)
            return
        try:
            upstream = socket.create_connection(upstream_address, timeout=CONNECT_TIMEOUT_S)
        except OSError:
            _close(client)
            return
        upstream.settimeout(None)
        for sock in (client, upstream):  # pass each write on at once, as a port-forward does (no Nagle delay)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            if self._closed:
                _close(client, upstream)
                return
            self._open |= {client, upstream}
        threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()
        self._pipe(client, upstream)

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(CHUNK):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open -= {source, sink}
            _close(source, sink)

    def cut(self) -> None:
        """Cut every connection open now: the pod behind them was replaced."""
        with self._lock:
            sockets, self._open = list(self._open), set()
        _close(*sockets)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        _close(self._server)
        self.cut()


def _close(*sockets: socket.socket) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            sock.close()
