"""The interface every target implements, and what it tells about itself.

Every target can be started, stopped, killed and scaled, and answers on its
endpoints. What only some targets can do is a *capability* (``CAPABILITIES``):
a target lists those it has, its other capability methods raise
``UnsupportedError``, and a drill whose steps need a capability the target
lacks is reported "unsupported on <target>" before anything starts.
"""

from __future__ import annotations

import dataclasses
import signal
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn, Protocol
from urllib.parse import urlsplit

from chaos.errors import ComponentError, UnsupportedError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "CAPABILITIES",
    "COMPONENTS",
    "Endpoints",
    "PlatformEvent",
    "Releases",
    "ReplicaStatus",
    "Target",
    "is_running",
    "require",
    "unsupported",
]

COMPONENTS = ("app", "mongodb", "redis", "toxiproxy", "prometheus")
CAPABILITIES = {
    "data-files": "the files of a stopped data store, on this machine",
    "releases": "deploy a release of the app and roll it back",
    "pause": "freeze a component and thaw it (SIGSTOP and SIGCONT, or docker pause)",
    "network-disconnect": "take a component off its network and put it back, without a proxy",
    "log-tails": "the tail of each component's log",
    "pods": "delete pods through the Kubernetes API and watch their controller replace them",
    "resources": "back up the deployment's own objects (Kubernetes) and create them again from the backup",
}


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
    scrape_targets: tuple[str, ...] = ()  # host:port of each replica as monitoring scrapes it; default: the apps'
    service: str = ""  # the URL users reach, a load balancer in front of the replicas; empty: there is none

    @property
    def monitored(self) -> tuple[str, ...]:
        """Each replica's address as the monitoring server knows it."""
        return self.scrape_targets or tuple(urlsplit(url).netloc for url in self.apps)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["apps"], data["scrape_targets"] = list(self.apps), list(self.scrape_targets)
        return data

    def without_secrets(self) -> Endpoints:
        """The same endpoints with every password taken out of the stores' URLs: safe to show."""
        return dataclasses.replace(self, mongodb_uri=_no_password(self.mongodb_uri),
                                   mongodb_proxy_uri=_no_password(self.mongodb_proxy_uri),
                                   redis_url=_no_password(self.redis_url),
                                   redis_proxy_url=_no_password(self.redis_proxy_url))  # fmt: skip


def _no_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = f"{parts.username}@" if parts.username else ""
    return parts._replace(netloc=f"{user}{parts.netloc.rsplit('@', 1)[1]}").geturl()


@dataclass(frozen=True)
class ReplicaStatus:
    component: str
    name: str
    pid: int | None
    running: bool
    restarts: int = 0


@dataclass(frozen=True)
class PlatformEvent:
    """Something the platform itself did, and when: a supervisor or restart policy restarting a replica."""

    name: str  # "restarted", "started", "ready", "deleted", "scheduled"
    component: str
    replica: str
    wall: float
    detail: str = ""


class Target(Protocol):
    """What a drill needs from the system under test."""

    description: str
    kind: str  # as in the targets file: local, docker, kubernetes
    capabilities: frozenset[str]

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

    def set_redis_persistence(self, mode: str) -> None: ...

    def platform_events(self) -> list[PlatformEvent]: ...

    # -- capabilities: each raises UnsupportedError where the target lacks it ------------------------
    def data_dir(self, component: str) -> Path: ...

    def data_files(self, component: str) -> list[Path]: ...

    @property
    def release(self) -> dict[str, str]:
        """The release the app runs now: its version, and its defect ("" for a good one)."""
        ...

    def deploy(self, version: str, defect: str = "") -> None: ...

    def rollback(self) -> str: ...

    def pause(self, component: str, replica: int | None = None) -> list[str]: ...

    def unpause(self, component: str, replica: int | None = None) -> None: ...

    def disconnect(self, component: str) -> None: ...

    def connect(self, component: str) -> None: ...

    def log_tails(self, lines: int = 40) -> dict[str, str]: ...


class Releases:
    """The app's release history, as Helm keeps it: the first release, then one per deploy; a
    rollback returns to the one before the latest."""

    def __init__(self) -> None:
        self._history = [{"version": "1.0.0", "defect": ""}]

    @property
    def current(self) -> dict[str, str]:
        """The release the app runs now: its version, and its defect ("" for a good one)."""
        return dict(self._history[-1])

    def push(self, version: str, defect: str) -> None:
        self._history.append({"version": version, "defect": defect})

    def require_previous(self) -> None:
        """ComponentError when the current release is the first: there is nothing to roll back to."""
        if len(self._history) < 2:
            raise ComponentError(f"rollback: release {self.current['version']} has no previous release")

    def pop(self) -> str:
        """Back to the previous release; its version."""
        self.require_previous()
        self._history.pop()
        return self.current["version"]


def is_running(target: Target, component: str) -> bool:
    """Whether any process of ``component`` is up on ``target``."""
    return any(row.running for row in target.status() if row.component == component)


def require(target: Target, capability: str) -> None:
    """Raise UnsupportedError unless ``target`` has ``capability``."""
    if capability not in target.capabilities:
        unsupported(target, capability)


def unsupported(target: Target, capability: str) -> NoReturn:
    """The method of a capability ``target`` lacks."""
    raise UnsupportedError(f"{CAPABILITIES[capability]}: unsupported on {target.description}")
