"""The interface every target implements, and what it tells about itself."""

from __future__ import annotations

import signal
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["COMPONENTS", "Endpoints", "ReplicaStatus", "Target", "is_running"]

COMPONENTS = ("app", "mongodb", "redis", "toxiproxy", "prometheus")


@dataclass(frozen=True)
class Endpoints:
    """Where each part of a running stack answers."""

    apps: tuple[str, ...]
    database: str
    mongodb_uri: str
    mongodb_proxy_uri: str
    redis_url: str
    redis_proxy_url: str
    toxiproxy_api: str
    proxies: dict[str, dict[str, str]] = field(default_factory=dict)
    prometheus_api: str = ""  # empty when the target runs no monitoring

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["apps"] = list(self.apps)
        return data


@dataclass(frozen=True)
class ReplicaStatus:
    component: str
    name: str
    pid: int | None
    running: bool
    restarts: int = 0


class Target(Protocol):
    """What a drill needs from the system under test."""

    description: str

    @property
    def endpoints(self) -> Endpoints: ...

    def locator(self) -> dict[str, str]:
        """Plain data from which another process can reach this target again (a fault's ledger entry keeps it)."""
        ...

    def start(self) -> None: ...

    def close(self) -> None: ...

    def kill(self, component: str, replica: int | None = None, sig: int = signal.SIGKILL) -> list[int]: ...

    def stop(self, component: str) -> None: ...

    def start_component(self, component: str, *, fresh_data: bool = False) -> None: ...

    def scale(self, component: str, replicas: int) -> None: ...

    def kill_all(self, sig: int = signal.SIGKILL) -> dict[str, list[int]]: ...

    def status(self) -> list[ReplicaStatus]: ...

    def data_dir(self, component: str) -> Path: ...

    def data_files(self, component: str) -> list[Path]: ...


def is_running(target: Target, component: str) -> bool:
    """Whether any process of ``component`` is up on ``target``."""
    return any(row.running for row in target.status() if row.component == component)
