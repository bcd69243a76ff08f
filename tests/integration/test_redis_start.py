"""How the containers start Redis, run here on this machine: the password never on a command line (issue 23).

The same shell script the Docker images run (chaos.targets.images.REDIS_START) and the one the
chart renders, with ``/data`` moved to a temporary directory and ``bind 0.0.0.0`` to loopback.
First with a stand-in ``redis-server`` that records its argv, environment and standard input; then
with the real one: it asks for the password, takes it, keeps protected mode on without one, and
CONFIG REWRITE (which writes the password into the settings file) leaves that file 0600.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import stat
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import redis
import yaml

from chaos.servers import launch
from chaos.targets.images import REDIS_START
from chaos.targets.kubernetes import CHART, LOCAL_CACHE_BIN
from chaos.tools import REDIS_SERVER, find_tool
from chaos.wait import wait_for

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

HELM = shutil.which("helm") or (str(LOCAL_CACHE_BIN / "helm") if (LOCAL_CACHE_BIN / "helm").exists() else None)
# Characters a config line would choke on, unescaped: a space, quotes, a backslash, a '$'.
PASSWORD = f"p w\"'\\$x-{secrets.token_hex(8)}"
RECORDER = """#!/bin/sh
printf '%s\\n' "$@" > {record}/argv
env > {record}/env
cat > {record}/stdin
"""


def images_script(data: Path, port: int) -> str:
    return REDIS_START.replace("/data", str(data)).replace("port 6379", f"port {port}").replace("0.0.0.0", "127.0.0.1")


def chart_script(data: Path, port: int) -> str:
    if HELM is None:
        pytest.skip("no helm binary (scripts/k8s/build.sh builds one)")
    done = subprocess.run([HELM, "template", "drill", str(CHART), "--set", f"redis.port={port}"], capture_output=True,
                          text=True, timeout=60, check=True)  # fmt: skip
    redis_set = next(doc for doc in yaml.safe_load_all(done.stdout)
                     if doc and doc["kind"] == "StatefulSet" and doc["metadata"]["name"] == "drill-redis")  # fmt: skip
    command = redis_set["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[:2] == ["sh", "-c"]
    return str(command[2]).replace("/data", str(data)).replace("0.0.0.0", "127.0.0.1")


SCRIPTS: dict[str, Callable[[Path, int], str]] = {"images": images_script, "chart": chart_script}


@pytest.fixture(params=sorted(SCRIPTS))
def script(request: pytest.FixtureRequest) -> Callable[[Path, int], str]:
    return SCRIPTS[request.param]


def _start(script: str, path: str, password: str | None, log: Path) -> subprocess.Popen[bytes]:
    env = {"PATH": path, **({"REDIS_PASSWORD": password} if password is not None else {})}
    with log.open("wb") as out:
        # The parent's umask as a container runtime's: the script itself must make its files private.
        return subprocess.Popen(["sh", "-c", script], env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, umask=0o022)  # fmt: skip


def test_the_password_reaches_redis_on_its_standard_input_only(
    script: Callable[[Path, int], str], tmp_path: Path
) -> None:
    data, record, shim = tmp_path / "data", tmp_path / "record", tmp_path / "bin"
    for directory in (data, record, shim):
        directory.mkdir()
    (shim / "redis-server").write_text(RECORDER.format(record=record))
    (shim / "redis-server").chmod(0o755)
    started = _start(script(data, 16379), f"{shim}:{os.environ['PATH']}", PASSWORD, tmp_path / "log")
    assert started.wait(timeout=30) == 0, (tmp_path / "log").read_text()
    argv = (record / "argv").read_text().splitlines()
    assert argv == [str(data / "redis.conf"), "-"]
    assert "REDIS_PASSWORD" not in (record / "env").read_text()
    assert PASSWORD not in (record / "env").read_text()
    escaped = "".join(f"\\x{byte:02x}" for byte in PASSWORD.encode())
    assert (record / "stdin").read_text() == f'requirepass "{escaped}"\n'
    settings = (data / "redis.conf").read_text()
    assert "protected-mode" not in settings  # Redis's default: on
    assert stat.S_IMODE((data / "redis.conf").stat().st_mode) == 0o600


@pytest.fixture
def redis_path() -> str:
    return f"{find_tool(REDIS_SERVER).parent}:{os.environ['PATH']}"


@pytest.fixture
def server() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_real_redis_asks_for_the_password_and_keeps_its_file_private(
    script: Callable[[Path, int], str], tmp_path: Path, redis_path: str, server: list[subprocess.Popen[bytes]]
) -> None:
    port = launch.free_port()
    data = tmp_path / "data"
    data.mkdir()
    server.append(_start(script(data, port), redis_path, PASSWORD, tmp_path / "log"))
    pid = server[0].pid
    url = f"redis://127.0.0.1:{port}/0"
    anonymous = redis.Redis.from_url(url, socket_timeout=5)
    client = redis.Redis(port=port, password=PASSWORD, socket_timeout=5)
    try:
        wait_for(lambda: client.ping(), what="the script's redis-server", timeout=20, not_yet=launch.NOT_READY)
        assert Path(f"/proc/{pid}/exe").resolve() == find_tool(REDIS_SERVER).resolve()  # exec'd: the main process
        assert PASSWORD.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
        assert PASSWORD.encode() not in Path(f"/proc/{pid}/environ").read_bytes()
        with pytest.raises(redis.AuthenticationError):
            anonymous.ping()
        client.config_set("appendonly", "yes")
        client.config_rewrite()  # what a persistence switch does on Docker and Kubernetes
        assert stat.S_IMODE((data / "redis.conf").stat().st_mode) == 0o600
        assert re.search(r"^appendonly yes$", (data / "redis.conf").read_text(), re.MULTILINE)
    finally:
        anonymous.close()
        client.close()


def test_without_a_password_protected_mode_stays_on(
    script: Callable[[Path, int], str], tmp_path: Path, redis_path: str, server: list[subprocess.Popen[bytes]]
) -> None:
    port = launch.free_port()
    data = tmp_path / "data"
    data.mkdir()
    server.append(_start(script(data, port), redis_path, None, tmp_path / "log"))
    client = redis.Redis(port=port, socket_timeout=5)
    try:
        wait_for(lambda: client.ping(), what="the script's redis-server", timeout=20, not_yet=launch.NOT_READY)
        assert client.config_get("protected-mode") == {"protected-mode": "yes"}
    finally:
        client.close()
