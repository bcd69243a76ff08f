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
    from collections.abc import Callable, Iterator

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
CHAT_TOKEN = "s3cr3t-webhook-token-4711"
STATUS_KEY = "st4tus-page-key-0815"
FOOTER = "This is a disaster-recovery drill, not a real incident."


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
        text = "\n".join(part.get_payload(decode=True).decode(errors="replace") for part in parts)
        self.received.add({"from": envelope.mail_from, "to": envelope.rcpt_tos, "subject": str(message["Subject"]),
                           "body": text})  # fmt: skip
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, Received]]:
    """A plain SMTP server: no TLS, no AUTH, as a relay inside a network may be."""
    received = Received()
    port = _free_port()  # aiosmtpd checks its server by connecting to the port it was given: not 0
    controller = Controller(_Mailbox(received), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, received
    finally:
        controller.stop()


@pytest.fixture
def http() -> Iterator[Callable[..., tuple[int, Received]]]:
    """Starts HTTP receivers that record each request and answer ``status``, after ``delay`` seconds."""
    servers: list[ThreadingHTTPServer] = []
    released = threading.Event()  # a delayed answer waits on this, so stopping does not wait out the delay

    def start(status: int = 200, delay: float = 0.0) -> tuple[int, Received]:
        received = Received()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.add({"method": self.command, "path": self.path, "headers": dict(self.headers),
                              "body": json.loads(body or b"null")})  # fmt: skip
                if released.wait(delay):
                    return  # the test is over: nobody waits for the answer
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.server_address[1], received

    yield start
    released.set()
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def silent_smtp() -> Iterator[int]:
    """A port that accepts connections and never says a word: an SMTP server that hangs before its greeting."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])


def test_the_plans_steps_reach_chat_email_and_status_page_once_each(
    smtp: tuple[int, Received],
    http: Callable[..., tuple[int, Received]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    smtp_port, mailbox = smtp
    chat_port, chat = http()
    status_port, status_page = http()
    monkeypatch.setenv("CHAT_TOKEN", CHAT_TOKEN)
    monkeypatch.setenv("STATUS_KEY", STATUS_KEY)
    notifier = Notifier(NotificationSettings({
        "team": (f"mmost://127.0.0.1:{chat_port}/${{CHAT_TOKEN}}",
                 f"mailto://127.0.0.1:{smtp_port}?from=drill@example.com&to=oncall@example.com&mode=insecure"),
        "status": (f"json://127.0.0.1:{status_port}/status/${{STATUS_KEY}}",),
    }, timeout_s=5))  # fmt: skip
    caplog.set_level(logging.DEBUG)  # everything Apprise and urllib3 say, which is where a URL would leak
    team = notifier.notify_team("incident_detected", "database failure", "RTO 4.2s of 60s, 0 writes lost")
    status = notifier.update_status("incident_detected", "investigating", "MongoDB restore running, RTO 4.2s")
    assert [d.ok for d in team + status] == [True, True, True], [d.error for d in team + status]

    (posted,) = chat.all()  # once
    assert (posted["method"], posted["path"]) == ("POST", f"/hooks/{CHAT_TOKEN}")  # the token, from the environment
    assert posted["headers"]["Content-Type"] == "application/json"
    assert posted["body"]["text"].startswith(f"{DRILL_MARK} Incident: database failure")
    assert "Details: RTO 4.2s of 60s, 0 writes lost" in posted["body"]["text"]
    assert posted["body"]["text"].endswith(FOOTER)
    (mail,) = mailbox.all()
    assert (mail["from"], mail["to"]) == ("drill@example.com", ["oncall@example.com"])
    assert mail["subject"] == f"{DRILL_MARK} Incident: database failure"
    assert "Details: RTO 4.2s of 60s, 0 writes lost" in mail["body"]
    assert mail["body"].rstrip().endswith(FOOTER)
    (update,) = status_page.all()
    assert (update["method"], update["path"]) == ("POST", f"/status/{STATUS_KEY}")
    assert update["body"]["title"] == f"{DRILL_MARK} investigating"
    assert update["body"]["message"].splitlines()[:2] == [f"{DRILL_MARK} Status: investigating",
                                                          "Details: MongoDB restore running, RTO 4.2s"]  # fmt: skip

    assert {d.destination for d in team} == {"mmost://127.0.0.1", "mailto://127.0.0.1"}
    assert [d.destination for d in status] == ["json://127.0.0.1"]
    kept = json.dumps([d.to_json() for d in notifier.deliveries()]) + repr(notifier.deliveries()) + repr(notifier)
    logged = caplog.text + "\n".join(record.getMessage() for record in caplog.records)
    assert any("/hooks/***" in record.getMessage() for record in caplog.records)  # Apprise did log the URL
    for secret in (CHAT_TOKEN, STATUS_KEY):
        assert secret not in kept
        assert secret not in logged


def test_a_failing_destination_is_reported_and_hides_no_other(
    http: Callable[..., tuple[int, Received]], smtp: tuple[int, Received], caplog: pytest.LogCaptureFixture
) -> None:
    smtp_port, mailbox = smtp
    broken_port, broken = http(status=500)
    good_port, good = http()
    closed = _free_port()
    notifier = Notifier(NotificationSettings({"team": (
        f"json://127.0.0.1:{broken_port}/hook",
        f"json://127.0.0.1:{closed}/hook",
        f"mailto://127.0.0.1:{closed}?from=drill@example.com&to=oncall@example.com&mode=insecure",
        f"json://127.0.0.1:{good_port}/x",
        f"mailto://127.0.0.1:{smtp_port}?from=drill@example.com&to=oncall@example.com&mode=insecure",
    )}, timeout_s=3))  # fmt: skip
    caplog.set_level(logging.WARNING, logger="chaos.notify")
    answered_500, refused, refused_mail, delivered, mailed = notifier.notify_team("drill_started", "drill", "details")
    assert "error=500" in answered_500.error
    assert "Connection error" in refused.error
    assert "Connection error while submitting email" in refused_mail.error
    assert [d.ok for d in (answered_500, refused, refused_mail, delivered, mailed)] == [False, False, False, True, True]
    assert (len(broken.all()), len(good.all()), len(mailbox.all())) == (1, 1, 1)
    assert len([r for r in caplog.records if r.name == "chaos.notify" and r.levelno == logging.WARNING]) == 3


@pytest.mark.parametrize("kind", ["http", "smtp"])
def test_a_destination_slower_than_the_timeout_fails_in_bounded_time(
    kind: str, http: Callable[..., tuple[int, Received]], silent_smtp: int
) -> None:
    timeout_s = 1.0
    slow_port, slow = http(delay=timeout_s * 10)
    good_port, good = http()
    mail = f"mailto://127.0.0.1:{silent_smtp}?from=drill@example.com&to=oncall@example.com&mode=insecure"
    slow_url = f"json://127.0.0.1:{slow_port}/slow" if kind == "http" else mail
    notifier = Notifier(NotificationSettings({"status": (slow_url, f"json://127.0.0.1:{good_port}/x")}, timeout_s))
    started = time.monotonic()
    late, on_time = notifier.update_status("incident_detected", "investigating", "slow page")
    elapsed = time.monotonic() - started
    assert not late.ok
    assert late.error
    assert on_time.ok
    assert len(good.all()) == 1
    assert len(slow.all()) == (1 if kind == "http" else 0)
    assert elapsed < timeout_s * 3 + 2  # generous: CI is a loaded two-core machine


def test_a_drill_with_notifications_on_tells_everyone_once_with_its_figures(
    tmp_path: Path, smtp: tuple[int, Received], http: Callable[..., tuple[int, Received]]
) -> None:
    """A whole drill run: what is sent and when does not depend on the drill passing, so neither does this test."""
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
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=os.environ | {"CHAT_TOKEN": CHAT_TOKEN},
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-2000:]  # passed, or a budget breached

    texts = [item["body"]["text"] for item in chat.all()]
    assert all(text.startswith(DRILL_MARK) and text.endswith(FOOTER) for text in texts)
    heads = [text.splitlines()[0].removeprefix(f"{DRILL_MARK} ") for text in texts]
    breaches = heads.count("Incident: network failure: budget breached")
    assert (breaches > 0) == (result.returncode == 1), heads  # a breached budget is announced, and only then
    assert heads == ["Incident: network failure drill starting", "Incident: network failure",
                     *["Incident: network failure: budget breached"] * breaches,
                     "Incident: network failure drill finished"], heads  # fmt: skip
    assert "RTO application" in texts[-1]
    assert [mail["subject"].removeprefix(f"{DRILL_MARK} ") for mail in mailbox.all()] == heads
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
            assert CHAT_TOKEN.encode() not in path.read_bytes(), f"the webhook token is in {path}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
