"""Writers log every write's fate as the client can know it, and nothing after they stop."""

from __future__ import annotations

import socket
import threading
import time
from typing import TYPE_CHECKING

from chaos.measure.workload import WORKLOADS, Outcome, Writer
from chaos.wait import wait_for

if TYPE_CHECKING:
    from chaos.targets.local import LocalTarget
    from tests.integration.conftest import Front


def _trickling_server(listener: socket.socket, received: threading.Event, done: threading.Event) -> str:
    """Answers one request 201, one byte every 0.1 s: each read is quick, the whole answer takes about 8 s."""
    reply = b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            received.set()
            for byte in reply:
                conn.sendall(bytes([byte]))
                time.sleep(0.1)
        done.set()

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_a_write_still_in_flight_at_stop_is_unknown_and_its_late_answer_ignored() -> None:
    received, done = threading.Event(), threading.Event()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        url = _trickling_server(listener, received, done)
        writer = Writer([url], WORKLOADS["user_data"], run_id="late", rate=None, timeout=0.5).start()
        assert received.wait(10)
        writer.stop()  # gives up on its thread after the timeout plus a second; the write has not returned
        at_stop = writer.log()
        assert [record.outcome for record in at_stop] == [Outcome.UNKNOWN]
        assert "still in flight" in at_stop[0].error
        assert done.wait(20)  # the server acknowledged it after all, after the writer stopped
        wait_for(lambda: not any(t.is_alive() for t in writer._threads), what="the writer thread", timeout=5)
    assert writer.log() == at_stop  # no acknowledgement after the final read could have seen it
    assert writer.acked_count() == 0


def test_a_conflict_is_an_unknown_outcome_not_a_refusal(sandbox: LocalTarget, front: Front) -> None:
    """409: a record with this id exists; an earlier attempt may have landed, so nothing is promised either way."""
    conflicted = front(sandbox.endpoints.apps[0], lambda path, nth: (0.0, 409 if path == "/users" else None))
    writer = Writer([conflicted], WORKLOADS["user_data"], run_id="conflict").start()
    wait_for(lambda: writer.count(Outcome.UNKNOWN) >= 3, what="three answered writes", timeout=10)
    writer.stop()
    assert {record.status for record in writer.log() if record.status is not None} == {409}
    assert writer.count(Outcome.FAILED) == 0
