"""Command lines and readiness checks for each server of the sandbox."""

from __future__ import annotations

import collections
import random
import socket
import sys
from pathlib import Path

import httpx
import pymongo
import pymongo.errors
import redis

from chaos.errors import ComponentError
from chaos.servers.process import ProcessSpec
from chaos.tools import PROMETHEUS, REDIS_SERVER, TOXIPROXY_SERVER, find_mongo_server, find_tool
from chaos.wait import wait_for

__all__ = [
    "NOT_READY",
    "REDIS_PERSISTENCE",
    "app_spec",
    "free_port",
    "http_answers",
    "mongo_ready",
    "mongo_spec",
    "preflight",
    "prometheus_ready",
    "prometheus_spec",
    "redis_ready",
    "redis_spec",
    "switch_redis_persistence",
    "toxiproxy_ready",
    "toxiproxy_spec",
]

HOST = "127.0.0.1"

# What a readiness check raises while a server is still coming up.
NOT_READY: tuple[type[BaseException], ...] = (OSError, pymongo.errors.PyMongoError, redis.RedisError, httpx.HTTPError)


# How many ports on each side of the kernel's ephemeral range to choose from,
# and the ones this process gave out lately (a server may not have bound its port yet).
_PORT_SPAN = 12000
_handed_out: collections.deque[int] = collections.deque(maxlen=1024)
_random = random.SystemRandom()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A port no server on this host listens on, chosen outside the kernel's ephemeral range.

    A port the kernel hands out with ``bind(0)`` comes from the range it also uses
    for the source port of every outgoing connection, so between choosing it and
    the server's bind a client elsewhere can take it ("Address already in use").
    Ports below or above that range are never picked by the kernel on its own.
    """
    low, high = _ephemeral_range()
    candidates = [*range(max(1024, low - _PORT_SPAN), low), *range(high + 1, min(65536, high + 1 + _PORT_SPAN))]
    if not candidates:  # the ephemeral range covers every port: the kernel's choice is all there is
        with socket.socket() as sock:
            sock.bind((HOST, 0))
            chosen: int = sock.getsockname()[1]
            return chosen
    for _ in range(200):
        port: int = _random.choice(candidates)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind((HOST, port))
            except OSError:
                continue
        _handed_out.append(port)
        return port
    raise OSError(f"no free port found on {HOST} outside the ephemeral range {low}-{high} in 200 tries")


def preflight(*, monitoring: bool = True) -> None:
    """Raise ToolNotFoundError naming the first missing server binary."""
    find_mongo_server()
    find_tool(REDIS_SERVER)
    find_tool(TOXIPROXY_SERVER)
    if monitoring:
        find_tool(PROMETHEUS)


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


def redis_spec(
    name: str, port: int, data_dir: Path, log_path: Path, persistence: str = "none", *, config_file: Path | None = None
) -> ProcessSpec:
    """``config_file``: settings kept off the command line (a password), read before the arguments."""
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = [arg for key, value in REDIS_PERSISTENCE[persistence].items() for arg in (f"--{key}", value)]
    argv = (
        str(find_tool(REDIS_SERVER)),
        *([str(config_file)] if config_file else []),
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


def prometheus_spec(name: str, port: int, config: Path, data_dir: Path, log_path: Path) -> ProcessSpec:
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = (
        str(find_tool(PROMETHEUS)),
        f"--config.file={config}",
        f"--storage.tsdb.path={data_dir}",
        "--storage.tsdb.retention.time=1d",
        f"--web.listen-address={HOST}:{port}",
        "--log.level=warn",
    )
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


def switch_redis_persistence(url: str, mode: str, *, rewrite: bool) -> None:
    """Switch the Redis at ``url`` to ``mode`` (none, aof, snapshot); ``rewrite``: also into its configuration
    file, so a restart keeps it. Returns once a background rewrite of the append-only file has finished:
    writes count as durable after that."""
    if mode not in REDIS_PERSISTENCE:
        raise ComponentError(f"Redis persistence {mode!r}: expected one of {', '.join(REDIS_PERSISTENCE)}")
    client = redis.Redis.from_url(url, socket_timeout=10)
    try:
        for key, value in REDIS_PERSISTENCE[mode].items():
            client.config_set(key, value)
        if rewrite:
            client.config_rewrite()

        def settled() -> bool:
            info = client.info("persistence")
            return not info["aof_rewrite_in_progress"] and not info["rdb_bgsave_in_progress"]

        wait_for(settled, what="Redis to finish rewriting its append-only file", timeout=30)
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


def prometheus_ready(api: str) -> bool:
    return httpx.get(f"{api}/-/ready", timeout=0.5).status_code == 200


def http_answers(url: str) -> bool:
    """The server accepts connections and answers HTTP, whatever the status."""
    httpx.get(url, timeout=2.0)
    return True
