"""The sandbox daemon's control API obeys only a caller that holds its token, from this host, speaking JSON."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from chaos.faults.process import answers
from chaos.targets.base import Endpoints

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "control-api-test-pw-7c1e9a"


def drill(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chaos.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=os.environ | {"DRILL_TEST_REDIS_PW": PASSWORD})  # fmt: skip


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any], str]]:
    workdir = tmp_path_factory.mktemp("control") / "sandbox"
    up = drill("sandbox", "up", "--workdir", str(workdir), "--replicas", "1", "--redis-password-env",
               "DRILL_TEST_REDIS_PW")  # fmt: skip
    assert up.returncode == 0, up.stderr
    try:
        yield workdir, json.loads((workdir / "sandbox.json").read_text()), up.stdout
    finally:
        drill("sandbox", "down", "--workdir", str(workdir))


def _endpoints(state: dict[str, Any]) -> Endpoints:
    data = dict(state["endpoints"])
    data["apps"], data["scrape_targets"] = tuple(data["apps"]), tuple(data.get("scrape_targets", ()))
    return Endpoints(**data)


def test_the_state_file_is_its_owners_alone_and_printed_endpoints_hold_no_password(daemon: Any) -> None:
    workdir, state, printed = daemon
    assert stat.S_IMODE((workdir / "sandbox.json").stat().st_mode) == 0o600
    assert PASSWORD in state["endpoints"]["redis_url"]  # the client takes its credentials from here
    assert PASSWORD not in printed


JSON, AUTH = {"Content-Type": "application/json"}, {"Authorization": "Bearer TOKEN"}


@pytest.mark.parametrize(
    ("headers", "body", "status", "says"),
    [
        (JSON, b'{"component": "mongodb"}', 401, "needs the daemon's token"),
        (JSON | {"Authorization": "Bearer wrong"}, b'{"component": "mongodb"}', 401, "needs the daemon's token"),
        (AUTH | JSON | {"Origin": "http://evil.example"}, b'{"component": "mongodb"}', 403, "a web page"),
        (AUTH | JSON | {"Host": "evil.example"}, b'{"component": "mongodb"}', 403, "another host"),
        (AUTH | {"Content-Type": "text/plain"}, b'{"component": "mongodb"}', 415, "application/json"),
        (AUTH | {"Content-Type": "application/x-www-form-urlencoded"}, b"component=mongodb", 415, "application/json"),
    ],
    ids=["no-token", "wrong-token", "origin", "rebound-host", "text-plain", "form"],
)  # fmt: skip
def test_a_refused_request_kills_nothing(
    daemon: Any, headers: dict[str, str], body: bytes, status: int, says: str
) -> None:
    _, state, _ = daemon
    sent = {name: value.replace("TOKEN", state["token"]) for name, value in headers.items()}
    response = httpx.post(f"{state['control']}/kill", content=body, headers=sent, timeout=10)
    assert response.status_code == status
    assert says in response.json()["error"]
    assert answers(_endpoints(state), "mongodb")()  # still there: nothing was killed


def test_status_needs_the_token_and_hands_out_no_secret(daemon: Any) -> None:
    _, state, _ = daemon
    assert httpx.get(f"{state['control']}/status", timeout=10).status_code == 401
    status = httpx.get(f"{state['control']}/status", headers={"Authorization": f"Bearer {state['token']}"},
                       timeout=10)  # fmt: skip
    assert status.status_code == 200
    assert PASSWORD not in status.text
    assert status.json()["endpoints"]["redis_url"].startswith("redis://127.0.0.1:")


def test_the_client_with_the_token_acts_and_keeps_its_credentials(daemon: Any) -> None:
    workdir, _, _ = daemon
    from chaos.sandbox_daemon import connect

    client = connect(workdir)
    try:
        assert PASSWORD in client.endpoints.redis_url
        client.kill("mongodb")
        assert not answers(client.endpoints, "mongodb")()
        client.start_component("mongodb")
        assert answers(client.endpoints, "mongodb")()
    finally:
        client.close()
