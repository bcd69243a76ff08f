"""Command lines and readiness checks for each server of the sandbox."""

from __future__ import annotations

import socket
import sys
from typing import TYPE_CHECKING

import httpx
import pymongo
import pymongo.errors
import redis

from chaos.servers.process import ProcessSpec
from chaos.tools import REDIS_SERVER, TOXIPROXY_SERVER, find_mongo_server, find_tool

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "NOT_READY",
    "REDIS_PERSISTENCE",
    "app_spec",
    "free_port",
    "http_answers",
    "mongo_ready",
    "mongo_spec",
    "preflight",
    "redis_ready",
    "redis_spec",
    "toxiproxy_ready",
    "toxiproxy_spec",
]

HOST = "127.0.0.1"

# What a readiness check raises while a server is still coming up.
NOT_READY: tuple[type[BaseException], ...] = (OSError, pymongo.errors.PyMongoError, redis.RedisError, httpx.HTTPError)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def preflight() -> None:
    """Raise ToolNotFoundError naming the first missing server binary."""
    find_mongo_server()
    find_tool(REDIS_SERVER)
    find_tool(TOXIPROXY_SERVER)


def mongo_spec(name: str, port: int, data_dir: Path, log_path: Path) -> ProcessSpec:
    kind, binary = find_mongo_server()
    data_dir.mkdir(parents=True, exist_ok=True)
    argv: tuple[str, ...]
    if kind == "mongod":
        argv = (str(binary), "--dbpath", str(data_dir), "--port", str(port), "--bind_ip", HOST)
    else:
        argv = (
            str(binary),
            "--handler=sqlite",
            f"--sqlite-url=file:{data_dir}/",
            f"--listen-addr={HOST}:{port}",
            f"--state-dir={data_dir}",
            "--telemetry=disable",
            "--debug-addr=-",
            "--log-level=error",
        )
    return ProcessSpec(name, argv, log_path)


# Redis persistence modes: none (a pure cache), an append-only file synced every
# second, or a snapshot every second while anything changed.
REDIS_PERSISTENCE: dict[str, dict[str, str]] = {
    "none": {"save": "", "appendonly": "no"},
    "aof": {"save": "", "appendonly": "yes", "appendfsync": "everysec"},
    "snapshot": {"save": "1 1", "appendonly": "no"},
}


def redis_spec(name: str, port: int, data_dir: Path, log_path: Path, persistence: str = "none") -> ProcessSpec:
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = [arg for key, value in REDIS_PERSISTENCE[persistence].items() for arg in (f"--{key}", value)]
    argv = (
        str(find_tool(REDIS_SERVER)),
        "--port", str(port),
        "--bind", HOST,
        "--dir", str(data_dir),
        *settings,
        "--daemonize", "no",
    )  # fmt: skip
    return ProcessSpec(name, argv, log_path)


def toxiproxy_spec(name: str, port: int, log_path: Path) -> ProcessSpec:
    argv = (str(find_tool(TOXIPROXY_SERVER)), "-host", HOST, "-port", str(port))
    return ProcessSpec(name, argv, log_path)


def app_spec(
    name: str, port: int, mongo_uri: str, redis_url: str, database: str, log_path: Path,
    release: dict[str, str] | None = None,
) -> ProcessSpec:  # fmt: skip
    argv = (sys.executable, "-m", "sandbox.calendar_assistant", "--host", HOST, "--port", str(port))
    env = {
        "CALENDAR_MONGODB_URI": mongo_uri,
        "CALENDAR_REDIS_URL": redis_url,
        "CALENDAR_DATABASE": database,
        "CALENDAR_REPLICA": name,
        "CALENDAR_VERSION": (release or {}).get("version", "1.0.0"),
        "CALENDAR_DEFECT": (release or {}).get("defect", ""),
    }
    return ProcessSpec(name, argv, log_path, env)


def mongo_ready(uri: str) -> bool:
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
        uri, serverSelectionTimeoutMS=500, connectTimeoutMS=500
    )
    try:
        return bool(client.admin.command("ping").get("ok"))
    finally:
        client.close()


def redis_ready(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
    try:
        return bool(client.ping())
    finally:
        client.close()


def toxiproxy_ready(api: str) -> bool:
    return httpx.get(f"{api}/version", timeout=0.5).status_code == 200


def http_answers(url: str) -> bool:
    """The server accepts connections and answers HTTP, whatever the status."""
    httpx.get(url, timeout=2.0)
    return True
