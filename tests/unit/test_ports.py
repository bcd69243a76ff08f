"""Ports for sandbox servers come from outside the range the kernel uses for outgoing connections."""

from __future__ import annotations

import socket

from chaos.servers import launch


def test_free_ports_lie_outside_the_ephemeral_range_and_can_be_bound() -> None:
    low, high = launch._ephemeral_range()
    ports = [launch.free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports), "a port was handed out twice"
    for port in ports:
        assert not low <= port <= high, f"{port} lies in the ephemeral range {low}-{high}"
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))


def test_a_port_some_server_listens_on_is_never_handed_out() -> None:
    low, _ = launch._ephemeral_range()
    listeners = []
    try:
        # Occupy a stretch of the candidate ports and ask many times.
        for port in range(low - 200, low):
            sock = socket.socket()
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                sock.close()
                continue
            sock.listen()
            listeners.append(sock)
        taken = {sock.getsockname()[1] for sock in listeners}
        handed = {launch.free_port() for _ in range(300)}
        assert not handed & taken
    finally:
        for sock in listeners:
            sock.close()
