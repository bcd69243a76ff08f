"""Operate a running sandbox from another process: a loopback HTTP API in the daemon, and a Target client.

The daemon of `drill sandbox up` owns the stack's processes; `drill restore`,
`drill recover` and a person at a terminal act on it through this API, with
the same Target operations a drill uses in-process.

Nothing is done for a caller that cannot prove it may: every request must carry
the daemon's token (``Authorization: Bearer <token>``), a random value written
only to the 0600 state file; a request with an ``Origin`` header (a web page),
a ``Host`` other than the loopback address and port (DNS rebinding), or a body
that is not ``application/json`` (a form a browser sends without asking) is
refused before it is read, and nothing is started, stopped or killed. ``/status``
holds no secret: the stores' URLs come without passwords, and a client takes
the credentials from the state file it can read.

    GET  /status                       replicas, endpoints
    POST /kill  {component, replica?, signal?}
    POST /stop  {component}
    POST /start {component, fresh_data?}
    POST /scale {component, replicas}
    GET  /data-files?component=NAME     GET /data-dir?component=NAME
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import signal
import threading
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx

from chaos.errors import ChaosError, ComponentError, UnsupportedError
from chaos.targets.base import Endpoints, PlatformEvent, ReplicaStatus, unsupported

if TYPE_CHECKING:
    from chaos.targets.local import LocalTarget

__all__ = ["SandboxClient", "serve_control"]

SIGNALS = {"SIGKILL": signal.SIGKILL, "SIGTERM": signal.SIGTERM}


def serve_control(target: LocalTarget, token: str) -> ThreadingHTTPServer:
    """Start the control API on a free loopback port, in a background thread; every request needs ``token``."""
    lock = threading.Lock()  # one operation at a time, as in a drill

    def act(path: str, body: dict[str, Any]) -> Any:
        with lock:
            return _act(path, body)

    def _act(path: str, body: dict[str, Any]) -> Any:
        component = str(body.get("component", ""))
        if path == "/kill":
            sig = SIGNALS.get(str(body.get("signal", "SIGKILL")), signal.SIGKILL)
            return {"pids": target.kill(component, body.get("replica"), sig)}
        if path == "/kill-all":
            return {"pids": target.kill_all(SIGNALS.get(str(body.get("signal", "SIGKILL")), signal.SIGKILL))}
        if path == "/stop":
            target.stop(component)
            return {}
        if path == "/start":
            target.start_component(component, fresh_data=bool(body.get("fresh_data", False)))
            return {}
        if path == "/scale":
            target.scale(component, int(body["replicas"]))
            return {}
        raise KeyError(path)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _reply(self, status: int, data: Any) -> None:
            payload = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _refused(self, *, body: bool) -> bool:
            """Reply and return True unless the request may be acted on (see the module's docstring)."""
            problem = ""
            if not hmac.compare_digest(self.headers.get("Authorization", ""), f"Bearer {token}"):
                status, problem = 401, "a request needs the daemon's token (in the sandbox's state file)"
            elif self.headers.get("Origin") is not None:
                status, problem = 403, "requests from a web page (an Origin header) are refused"
            elif self.headers.get("Host") not in (f"127.0.0.1:{port}", f"localhost:{port}"):
                status, problem = 403, f"requests for another host than 127.0.0.1:{port} are refused"
            elif body and self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
                status, problem = 415, "a request body must be application/json"
            if problem:
                self.close_connection = True
                self._reply(status, {"error": problem})
            return bool(problem)

        def do_GET(self) -> None:
            if self._refused(body=False):
                return
            url = urlsplit(self.path)
            try:
                if url.path == "/status":
                    self._reply(200, {"replicas": [asdict(row) for row in target.status()],
                                      "endpoints": target.endpoints.without_secrets().to_json()})  # fmt: skip
                elif url.path == "/data-files":
                    component = parse_qs(url.query).get("component", [""])[0]
                    self._reply(200, {"files": [str(path) for path in target.data_files(component)]})
                elif url.path == "/data-dir":
                    component = parse_qs(url.query).get("component", [""])[0]
                    self._reply(200, {"dir": str(target.data_dir(component))})
                else:
                    self._reply(404, {"error": f"no route {url.path}"})
            except ChaosError as exc:
                self._reply(409, {"error": str(exc)})

        def do_POST(self) -> None:
            if self._refused(body=True):
                return
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
                self._reply(200, act(urlsplit(self.path).path, body))
            except KeyError:
                self._reply(404, {"error": f"no route {self.path}"})
            except (ChaosError, ValueError, TypeError) as exc:
                self._reply(409, {"error": str(exc)})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, name="sandbox-control", daemon=True).start()
    return server


def _signal_name(sig: int) -> str:
    return next((key for key, value in SIGNALS.items() if value == sig), "SIGKILL")


class SandboxClient:
    """The Target protocol over a sandbox daemon's control API: the operations a recovery needs."""

    kind = "sandbox-daemon"
    capabilities = frozenset({"data-files"})

    def __init__(self, control: str, workdir: Path, token: str, endpoints: Endpoints) -> None:
        """``token`` and ``endpoints`` (with their credentials) come from the daemon's state file."""
        self.control = control.rstrip("/")
        self.workdir = workdir
        self.description = f"sandbox in {workdir} ({self.control})"
        self._endpoints = endpoints
        self._http = httpx.Client(base_url=self.control, timeout=120, headers={"Authorization": f"Bearer {token}"})

    def locator(self) -> dict[str, str]:
        return {"kind": "sandbox", "workdir": str(self.workdir)}

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise ComponentError(f"sandbox control API {self.control} unreachable: {exc!r}") from exc
        data = response.json()
        if response.status_code != 200:
            raise ComponentError(f"{method} {path} on the sandbox: {data.get('error', response.text)}")
        return data

    @property
    def endpoints(self) -> Endpoints:
        """The replicas as the daemon has them now; the stores' URLs, credentials included, from the state file."""
        data = dict(self._call("GET", "/status")["endpoints"])
        data["apps"], data["scrape_targets"] = tuple(data["apps"]), tuple(data.get("scrape_targets", ()))
        known = self._endpoints
        return dataclasses.replace(Endpoints(**data), mongodb_uri=known.mongodb_uri,
                                   mongodb_proxy_uri=known.mongodb_proxy_uri, redis_url=known.redis_url,
                                   redis_proxy_url=known.redis_proxy_url)  # fmt: skip

    def start(self) -> None:
        """The daemon started the stack; nothing to do."""

    def close(self) -> None:
        self._http.close()

    def kill(self, component: str, replica: int | None = None, sig: int = signal.SIGKILL) -> list[int]:
        name = _signal_name(sig)
        return list(self._call("POST", "/kill", {"component": component, "replica": replica, "signal": name})["pids"])

    def kill_all(self, sig: int = signal.SIGKILL) -> dict[str, list[int]]:
        name = _signal_name(sig)
        return {key: list(pids) for key, pids in self._call("POST", "/kill-all", {"signal": name})["pids"].items()}

    def stop(self, component: str) -> None:
        self._call("POST", "/stop", {"component": component})

    def start_component(self, component: str, *, fresh_data: bool = False) -> None:
        self._call("POST", "/start", {"component": component, "fresh_data": fresh_data})

    def scale(self, component: str, replicas: int) -> None:
        self._call("POST", "/scale", {"component": component, "replicas": replicas})

    def status(self) -> list[ReplicaStatus]:
        return [ReplicaStatus(**row) for row in self._call("GET", "/status")["replicas"]]

    def data_files(self, component: str) -> list[Path]:
        return [Path(p) for p in self._call("GET", f"/data-files?component={component}")["files"]]

    def data_dir(self, component: str) -> Path:
        return Path(self._call("GET", f"/data-dir?component={component}")["dir"])

    def set_redis_persistence(self, mode: str) -> None:
        raise UnsupportedError(f"switching Redis persistence is unsupported through {self.description}")

    def platform_events(self) -> list[PlatformEvent]:
        return []

    @property
    def release(self) -> dict[str, str]:
        unsupported(self, "releases")

    def deploy(self, version: str, defect: str = "") -> None:
        unsupported(self, "releases")

    def rollback(self) -> str:
        unsupported(self, "releases")

    def pause(self, component: str, replica: int | None = None) -> list[str]:
        unsupported(self, "pause")

    def unpause(self, component: str, replica: int | None = None) -> None:
        unsupported(self, "pause")

    def disconnect(self, component: str) -> None:
        unsupported(self, "network-disconnect")

    def connect(self, component: str) -> None:
        unsupported(self, "network-disconnect")

    def log_tails(self, lines: int = 40) -> dict[str, str]:
        unsupported(self, "log-tails")
