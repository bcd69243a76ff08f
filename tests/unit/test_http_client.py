"""A request sent on a connection that closes unanswered is never reported "refused", even when the
retry cannot connect: the server may have acted on it (a replica shut down mid-request)."""

from __future__ import annotations

import socket
import threading

import pytest

from chaos.measure.http import HttpClient, RequestError

ANSWER = b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n{}"


def _read_until(conn: socket.socket, end: bytes) -> bytes:
    data = b""
    while end not in data and (chunk := conn.recv(65536)):
        data += chunk
    return data


def _server(listener: socket.socket, seen: list[bytes]) -> None:
    conn, _ = listener.accept()
    seen.append(_read_until(conn, b'"a"}'))
    conn.sendall(ANSWER)
    seen.append(_read_until(conn, b'"b"}'))  # the second write arrives whole; the server goes away unanswering
    listener.close()
    conn.close()


def test_a_request_the_server_read_before_going_down_is_dropped_not_refused() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    seen: list[bytes] = []
    thread = threading.Thread(target=_server, args=(listener, seen), daemon=True)
    thread.start()
    client = HttpClient(f"http://127.0.0.1:{listener.getsockname()[1]}", 2.0)
    try:
        assert client.request("POST", "/users", {"id": "a"})[0] == 201
        with pytest.raises(RequestError) as raised:
            client.request("POST", "/users", {"id": "b"})
    finally:
        client.close()
    thread.join(5)
    assert b'"b"' in seen[1]  # the server did read the second write
    assert raised.value.kind == "dropped"
