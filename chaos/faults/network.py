"""Network faults on a Toxiproxy link: a partition, or a toxic on one or both directions.

Every change is read back from the Toxiproxy API (the server is the truth, not
the request that was sent). A partition is also observed from outside: the
link's listen address must refuse connections.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

from chaos.errors import ConfigError, FaultNotObservedError
from chaos.faults.base import Fault
from chaos.servers.toxiproxy import ToxiproxyClient

if TYPE_CHECKING:
    from pathlib import Path

    from chaos.faults.ledger import Ledger
    from chaos.targets.base import Target

__all__ = ["TOXIC_ATTRIBUTES", "Partition", "Toxic"]

# Toxiproxy's toxic types and their attributes (all integers): the first is required.
TOXIC_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "latency": ("latency", "jitter"),  # ms
    "bandwidth": ("rate",),  # KB/s
    "timeout": ("timeout",),  # ms; 0 holds the data forever
    "reset_peer": ("timeout",),  # ms before the connection is reset
    "slow_close": ("delay",),  # ms
    "limit_data": ("bytes",),  # bytes after which the connection is closed
}
STREAMS = ("upstream", "downstream", "both")


def _link_exists(client: ToxiproxyClient, link: str) -> bool:
    return link in client.proxies()


def _link_holds(address: str) -> bool:
    """Whether a connection to ``address`` is taken and kept open: a server waits behind it.

    A cut link refuses the connection, or, behind a port forwarder such as Docker's, takes it and
    closes it at once: either way nothing is there.
    """
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=1.0) as conn:
            conn.settimeout(0.5)
            try:
                return conn.recv(1) != b""  # a server that speaks first is there too
            except TimeoutError:
                return True  # held open, waiting for us to speak
    except OSError:
        return False


def _require_link(client: ToxiproxyClient, link: str, what: str) -> None:
    links = client.proxies()
    if link not in links:
        known = ", ".join(sorted(links)) or "none"
        raise FaultNotObservedError(f"{what}: Toxiproxy has no link {link!r} (links: {known}); the fault cannot land")


class Partition(Fault):
    """Cut a link: the proxy is disabled, so connections are refused and open ones closed."""

    kind = "partition"

    def __init__(
        self, api: str, link: str, *, reach: str | None = None, ledger: Ledger | None = None,
        duration: float | None = None,
    ) -> None:  # fmt: skip
        """``reach``: host:port at which the drill reaches the link (default: where Toxiproxy says it listens)."""
        super().__init__(ledger=ledger, duration=duration)
        self.api = api
        self.link = link
        self.reach = reach

    def spec(self) -> dict[str, Any]:
        return {"api": self.api, "link": self.link}

    @classmethod
    def from_spec(cls, spec: dict[str, Any], snapshot: Path | None, target: Target | None = None) -> Partition:
        return cls(spec["api"], spec["link"])

    def describe(self) -> str:
        return f"partition of link {self.link!r} (Toxiproxy proxy disabled)"

    def _apply(self) -> None:
        client = ToxiproxyClient(self.api)
        try:
            _require_link(client, self.link, self.describe())
            client.set_enabled(self.link, False)
        finally:
            client.close()

    def _observe(self) -> None:
        address = self.reach
        if address is None:
            client = ToxiproxyClient(self.api)
            try:
                address = client.proxy(self.link).listen
            finally:
                client.close()
        if _link_holds(address):
            raise FaultNotObservedError(f"{self.describe()}: a connection to {address} is still held open; the fault "
                                        "did not land")  # fmt: skip

    def _undo(self) -> None:
        client = ToxiproxyClient(self.api)
        try:
            if _link_exists(client, self.link):
                client.set_enabled(self.link, True)
        finally:
            client.close()


class Toxic(Fault):
    """Degrade a link with a Toxiproxy toxic on upstream, downstream or both directions."""

    kind = "toxic"

    def __init__(
        self,
        api: str,
        link: str,
        toxic: str,
        attributes: dict[str, int],
        *,
        stream: str = "downstream",
        toxicity: float = 1.0,
        ledger: Ledger | None = None,
        duration: float | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(ledger=ledger, duration=duration)
        if toxic not in TOXIC_ATTRIBUTES:
            raise ConfigError(f"unknown toxic {toxic!r}; known: {', '.join(sorted(TOXIC_ATTRIBUTES))}")
        allowed = TOXIC_ATTRIBUTES[toxic]
        unknown = sorted(set(attributes) - set(allowed))
        if unknown or allowed[0] not in attributes:
            raise ConfigError(f"toxic {toxic!r} takes {', '.join(allowed)} (first required); got {sorted(attributes)}")
        if any(not isinstance(value, int) or value < 0 for value in attributes.values()):
            raise ConfigError(f"toxic {toxic!r}: attributes must be non-negative integers, got {attributes}")
        if stream not in STREAMS:
            raise ConfigError(f"toxic stream {stream!r}: expected one of {', '.join(STREAMS)}")
        if not 0 < toxicity <= 1:
            raise ConfigError(f"toxicity {toxicity}: expected a probability in (0, 1]")
        self.api, self.link, self.toxic, self.attributes = api, link, toxic, dict(attributes)
        self.stream, self.toxicity = stream, toxicity
        self.name = name or f"drill-{self.id}"

    def _names(self) -> list[tuple[str, str]]:
        streams = ("upstream", "downstream") if self.stream == "both" else (self.stream,)
        return [(f"{self.name}-{stream}", stream) for stream in streams]

    def spec(self) -> dict[str, Any]:
        return {"api": self.api, "link": self.link, "toxic": self.toxic, "attributes": self.attributes,
                "stream": self.stream, "toxicity": self.toxicity, "name": self.name}  # fmt: skip

    @classmethod
    def from_spec(cls, spec: dict[str, Any], snapshot: Path | None, target: Target | None = None) -> Toxic:
        return cls(spec["api"], spec["link"], spec["toxic"], spec["attributes"], stream=spec["stream"],
                   toxicity=spec["toxicity"], name=spec["name"])  # fmt: skip

    def describe(self) -> str:
        attributes = ", ".join(f"{key}={value}" for key, value in self.attributes.items())
        return f"{self.toxic} toxic ({attributes}) on link {self.link!r}, {self.stream}, toxicity {self.toxicity:g}"

    def _apply(self) -> None:
        client = ToxiproxyClient(self.api)
        try:
            _require_link(client, self.link, self.describe())
            for name, stream in self._names():
                client.add_toxic(self.link, name, self.toxic, self.attributes, stream=stream, toxicity=self.toxicity)
        finally:
            client.close()

    def _observe(self) -> None:
        client = ToxiproxyClient(self.api)
        try:
            held = {toxic["name"] for toxic in client.toxics(self.link)}
            if not client.proxy(self.link).enabled:
                raise FaultNotObservedError(f"{self.describe()}: the link is disabled, the toxic cannot act")
        finally:
            client.close()
        missing = [name for name, _ in self._names() if name not in held]
        if missing:
            raise FaultNotObservedError(f"{self.describe()}: Toxiproxy does not hold {missing}")

    def _undo(self) -> None:
        client = ToxiproxyClient(self.api)
        try:
            if _link_exists(client, self.link):
                for name, _ in self._names():
                    client.remove_toxic(self.link, name)
        finally:
            client.close()
