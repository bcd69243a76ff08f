"""test-connectivity: is every link of the system reachable, and how fast does it answer."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from chaos.servers import launch

if TYPE_CHECKING:
    from collections.abc import Callable

    from chaos.targets.base import Endpoints

__all__ = ["LinkCheck", "check_connectivity"]


@dataclass(frozen=True)
class LinkCheck:
    link: str
    ok: bool
    latency_ms: float
    error: str = ""

    def line(self) -> str:
        state = "ok    " if self.ok else "BROKEN"
        return f"{state} {self.link:44} {self.latency_ms:8.1f} ms  {self.error}".rstrip()


def _health(url: str) -> bool:
    response = httpx.get(f"{url}/health", timeout=3)
    if response.status_code != 200:
        raise OSError(f"/health answered {response.status_code}: {response.text[:120]}")
    return True


def _timed(link: str, check: Callable[[], bool]) -> LinkCheck:
    started = time.perf_counter()
    try:
        ok, error = bool(check()), ""
    except Exception as exc:  # whatever goes wrong on a link, the link is broken
        ok, error = False, f"{type(exc).__name__}: {str(exc)[:160]}"
    return LinkCheck(link, ok, (time.perf_counter() - started) * 1000, error)


def check_connectivity(endpoints: Endpoints) -> list[LinkCheck]:
    checks: list[tuple[str, Callable[[], bool]]] = [
        (f"client -> app {url}", functools.partial(_health, url)) for url in endpoints.apps
    ]
    checks += [
        ("client -> MongoDB (direct)", lambda: launch.mongo_ready(endpoints.mongodb_uri)),
        ("app -> MongoDB (through its link)", lambda: launch.mongo_ready(endpoints.mongodb_proxy_uri)),
        ("client -> Redis (direct)", lambda: launch.redis_ready(endpoints.redis_url)),
        ("app -> Redis (through its link)", lambda: launch.redis_ready(endpoints.redis_proxy_url)),
    ]
    if endpoints.toxiproxy_api:
        checks.append(("client -> Toxiproxy API", lambda: launch.toxiproxy_ready(endpoints.toxiproxy_api)))
    return [_timed(link, check) for link, check in checks]
