"""The communication plan against real local servers: an SMTP server (aiosmtpd) and HTTP receivers."""

from __future__ import annotations

import email
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from aiosmtpd.controller import Controller

from chaos.notify import DRILL_MARK, NotificationSettings, Notifier

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
TOKEN = "s3cr3t-webhook-token-4711"


@dataclass
class Received:
    lock: threading.Lock = field(default_factory=threading.Lock)
    items: list[dict[str, Any]] = field(default_factory=list)

    def add(self, item: dict[str, Any]) -> None:
        with self.lock:
            self.items.append(item)

    def all(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.items)


class _Mailbox:
    def __init__(self, received: Received) -> None:
        self.received = received

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content)
        parts = [message] if not message.is_multipart() else [p for p in message.walk() if not p.is_multipart()]
        text = "\n".join(str(p.get_payload(decode=True).decode(errors="replace")) for p in parts)
        self.received.add({"to": envelope.rcpt_tos, "subject": str(message["Subject"]), "body": text})
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, Received]]:
    received = Received()
    port = _free_port()  # aiosmtpd checks its server by connecting to the port it was given: not 0
    controller = Controller(_Mailbox(received), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, received
    finally:
        controller.stop()


def _receiver(status: int = 200, delay: float = 0.0) -> tuple[ThreadingHTTPServer, Received]:
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            time.sleep(delay)
            received.add({"path": self.path, "body": json.loads(body or b"null")})
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, received


@pytest.fixture
def http() -> Iterator[Any]:
    servers: list[ThreadingHTTPServer] = []

    def start(status: int = 200, delay: float = 0.0) -> tuple[int, Received]:
        server, received = _receiver(status, delay)
        servers.append(server)
        return server.server_address[1], received

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_the_plans_steps_reach_chat_email_and_status_page_once_each(
    smtp: tuple[int, Received], http: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    smtp_port, mailbox = smtp
    chat_port, chat = http()
    status_port, status_page = http()
    monkeypatch.setenv("CHAT_TOKEN", TOKEN)
    notifier = Notifier(NotificationSettings({
        "team": (f"mmost://127.0.0.1:{chat_port}/${{CHAT_TOKEN}}",
                 f"mailto://127.0.0.1:{smtp_port}?from=drill@example.com&to=oncall@example.com&mode=insecure"),
        "status": (f"json://127.0.0.1:{status_port}/incidents",),
    }, timeout_s=5))  # fmt: skip
    caplog.set_level(logging.DEBUG)
    team = notifier.notify_team("incident_detected", "database failure", "RTO 4.2s of 60s")
    status = notifier.update_status("incident_detected", "investigating", "MongoDB restore running")
    assert [d.ok for d in team + status] == [True, True, True], [d.error for d in team + status]

    (posted,) = chat.all()  # once
    assert posted["path"] == f"/hooks/{TOKEN}"  # the secret reached the server, from the environment
    assert posted["body"]["text"].count(DRILL_MARK) >= 1
    assert "RTO 4.2s of 60s" in posted["body"]["text"]
    (mail,) = mailbox.all()
    assert mail["to"] == ["oncall@example.com"]
    assert mail["subject"].startswith(DRILL_MARK)
    assert "RTO 4.2s of 60s" in mail["body"]
    assert "not a real incident" in mail["body"]
    (update,) = status_page.all()
    assert update["path"] == "/incidents"
    assert DRILL_MARK in update["body"]["title"]
    assert "Status: investigating" in update["body"]["message"]

    shown = json.dumps([d.to_json() for d in notifier.deliveries()]) + repr(notifier.deliveries()) + caplog.text
    assert TOKEN not in shown.replace(f"/hooks/{TOKEN}", "")  # apprise's own debug log aside, nothing of ours
    assert TOKEN not in json.dumps([d.to_json() for d in notifier.deliveries()])
    assert {d.destination for d in team} == {"mmost://127.0.0.1", "mailto://127.0.0.1"}


def test_a_failing_destination_is_reported_and_does_not_stop_the_next(http: Any, smtp: tuple[int, Received]) -> None:
    broken_port, broken = http(status=500)
    good_port, good = http()
    closed = _free_port()
    notifier = Notifier(NotificationSettings({"team": (
        f"json://127.0.0.1:{broken_port}/hook", f"json://127.0.0.1:{closed}/hook", f"json://127.0.0.1:{good_port}/x",
    )}, timeout_s=3))  # fmt: skip
    first, second, third = notifier.notify_team("drill_started", "drill", "details")
    assert not first.ok
    assert "500" in first.error
    assert not second.ok
    assert second.error
    assert third.ok
    assert len(broken.all()) == 1
    assert len(good.all()) == 1


def test_a_destination_slower_than_the_timeout_fails_in_bounded_time(http: Any) -> None:
    port, _ = http(delay=6.0)
    notifier = Notifier(NotificationSettings({"status": (f"json://127.0.0.1:{port}/slow",)}, timeout_s=1.0))
    started = time.monotonic()
    (delivery,) = notifier.update_status("incident_detected", "investigating", "slow page")
    # A read timeout of 1 s: well under the receiver's 6 s answer; the bound leaves room for a loaded machine.
    assert not delivery.ok
    assert time.monotonic() - started < 5.0


def test_a_drill_with_notifications_on_tells_everyone_once_with_its_figures(
    tmp_path: Path, smtp: tuple[int, Received], http: Any
) -> None:
    smtp_port, mailbox = smtp
    chat_port, chat = http()
    status_port, status_page = http()
    users_port, users = http()
    support_port, support = http()
    targets = yaml.safe_load((ROOT / "config" / "targets.yaml").read_text())
    targets["targets"]["sandbox"]["notifications"] = {
        "team": [f"mmost://127.0.0.1:{chat_port}/${{CHAT_TOKEN}}",
                 f"mailto://127.0.0.1:{smtp_port}?from=drill@example.com&to=oncall@example.com&mode=insecure"],
        "status": [f"json://127.0.0.1:{status_port}/status"],
        "users": [f"json://127.0.0.1:{users_port}/users"],
        "support": [f"json://127.0.0.1:{support_port}/support"],
    }  # fmt: skip
    (tmp_path / "targets.yaml").write_text(yaml.safe_dump(targets))
    result = subprocess.run(
        [sys.executable, "-m", "chaos.cli", "run", "-m", "network_failure", "-k", "is_cut and Redis",
         f"--targets={tmp_path / 'targets.yaml'}", f"--workdir={tmp_path / 'runs'}",
         f"--ledger-dir={tmp_path / 'ledger'}", f"--drill-report-dir={tmp_path / 'report'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=os.environ | {"CHAT_TOKEN": TOKEN},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]

    texts = [item["body"]["text"] for item in chat.all()]
    assert len(texts) == 3, texts  # started, incident, finished: once each
    assert "drill starting" in texts[0]
    assert "Incident: network failure" in texts[1]
    assert "finished" in texts[2]
    assert "RTO application" in texts[2]
    assert all(DRILL_MARK in text for text in texts)
    assert [mail["subject"].split("] ", 1)[-1] for mail in mailbox.all()] == [
        "Incident: network failure drill starting", "Incident: network failure",
        "Incident: network failure drill finished"]  # fmt: skip
    assert [item["body"]["title"] for item in status_page.all()] == [f"{DRILL_MARK} investigating",
                                                                     f"{DRILL_MARK} resolved"]  # fmt: skip
    assert len(users.all()) == 2
    assert "ETA: within 30s" in users.all()[0]["body"]["message"]
    assert len(support.all()) == 2

    report = json.loads((tmp_path / "report" / "drill-report.json").read_text())
    (scenario,) = report["scenarios"]
    measured = scenario["communication"]["measured_s"]
    assert 0 <= measured["team_notified"] <= 10  # the sandbox budget; delivered on loopback
    judged = {j["name"]: j["verdict"] for j in scenario["judgements"] if j["name"].startswith("communication")}
    assert judged == {"communication: team notified within 10s of detection": "passed",
                      "communication: status updated within 30s of detection": "passed"}  # fmt: skip
    assert any(moment["event"] == "fault_detected" for moment in scenario["timeline"])
    for path in (tmp_path / "report").rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), f"the webhook token is in {path}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
