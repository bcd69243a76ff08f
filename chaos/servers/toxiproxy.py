"""A small Toxiproxy HTTP API client that reads every change back.

The toxiproxy-python client swallows server errors and sets no timeouts, so a
proxy that failed to change would go unnoticed; here each write is followed by
a read of the proxy's state, compared with what was asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from chaos.errors import ToxiproxyError

__all__ = ["Proxy", "ToxiproxyClient"]


@dataclass(frozen=True)
class Proxy:
    name: str
    listen: str
    upstream: str
    enabled: bool

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Proxy:
        return cls(str(data["name"]), str(data["listen"]), str(data["upstream"]), bool(data["enabled"]))


class ToxiproxyClient:
    def __init__(self, api: str, timeout: float = 2.0) -> None:
        self.api = api.rstrip("/")
        self._http = httpx.Client(base_url=self.api, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, action: str, json: object = None) -> Any:
        try:
            response = self._http.request(method, path, json=json)
        except httpx.HTTPError as exc:
            raise ToxiproxyError(f"{action}: Toxiproxy API {self.api} unreachable: {exc!r}") from exc
        if response.status_code >= 400:
            raise ToxiproxyError(
                f"{action}: Toxiproxy API {self.api} answered {response.status_code}: {response.text.strip()}"
            )
        return response.json() if response.content else None

    def proxy(self, name: str) -> Proxy:
        return Proxy.from_api(self._request("GET", f"/proxies/{name}", f"read proxy {name!r}"))

    def proxies(self) -> dict[str, Proxy]:
        data = self._request("GET", "/proxies", "list proxies")
        return {name: Proxy.from_api(item) for name, item in data.items()}

    def create_proxy(self, name: str, listen: str, upstream: str) -> Proxy:
        action = f"create proxy {name!r} {listen} -> {upstream}"
        self._request("POST", "/proxies", action, {"name": name, "listen": listen, "upstream": upstream})
        proxy = self.proxy(name)
        if proxy.upstream != upstream or not proxy.enabled:
            raise ToxiproxyError(f"{action}: read back {proxy}, not what was asked")
        return proxy

    def set_enabled(self, name: str, enabled: bool) -> Proxy:
        action = f"{'enable' if enabled else 'disable'} proxy {name!r}"
        self._request("POST", f"/proxies/{name}", action, {"enabled": enabled})
        proxy = self.proxy(name)
        if proxy.enabled != enabled:
            raise ToxiproxyError(f"{action}: read back enabled={proxy.enabled}")
        return proxy
