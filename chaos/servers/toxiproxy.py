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

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        data = self._request("GET", f"/proxies/{proxy}/toxics", f"list toxics of {proxy!r}")
        return list(data)

    def add_toxic(
        self,
        proxy: str,
        name: str,
        kind: str,
        attributes: dict[str, int],
        *,
        stream: str = "downstream",
        toxicity: float = 1.0,
    ) -> dict[str, Any]:
        """Add a toxic and confirm the server holds it with exactly these attributes."""
        action = f"add {kind} toxic {name!r} ({stream}, {attributes}) to proxy {proxy!r}"
        body = {"name": name, "type": kind, "stream": stream, "toxicity": toxicity, "attributes": attributes}
        self._request("POST", f"/proxies/{proxy}/toxics", action, body)
        held = next((toxic for toxic in self.toxics(proxy) if toxic.get("name") == name), None)
        if held is None:
            raise ToxiproxyError(f"{action}: the proxy does not list it after it was added")
        wrong = {key: held["attributes"].get(key) for key, value in attributes.items()
                 if held["attributes"].get(key) != value}  # fmt: skip
        if held.get("type") != kind or held.get("stream") != stream or wrong:
            raise ToxiproxyError(f"{action}: read back {held}")
        return dict(held)

    def remove_toxic(self, proxy: str, name: str) -> None:
        """Remove a toxic and confirm it is gone; removing one that is absent is not an error."""
        if all(toxic.get("name") != name for toxic in self.toxics(proxy)):
            return
        self._request("DELETE", f"/proxies/{proxy}/toxics/{name}", f"remove toxic {name!r} from {proxy!r}")
        if any(toxic.get("name") == name for toxic in self.toxics(proxy)):
            raise ToxiproxyError(f"remove toxic {name!r} from {proxy!r}: still listed after removal")

    def delete_proxy(self, name: str) -> None:
        self._request("DELETE", f"/proxies/{name}", f"delete proxy {name!r}")
