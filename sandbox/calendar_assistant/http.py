"""The HTTP API, on the standard library's threading server.

GET  /health                 200 when MongoDB and Redis both answer, else 503 naming the failed one
GET  /metrics                Prometheus text format
POST /users                  {"id", "name", "email"}                 GET|PUT|DELETE /users/{id}
GET  /users/{id}/events
POST /events                 {"id", "user_id", "title", "start", "end"}  GET|PUT|DELETE /events/{id}
POST /settings               {"id", "value"}                         GET|PUT /settings/{id}
POST /sessions               {"user_id", "id"?} -> {"token"}         GET /sessions/{token}
"""

from __future__ import annotations

import json
import re
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pymongo.errors
import redis

from sandbox.calendar_assistant.metrics import Metrics
from sandbox.calendar_assistant.store import Conflict, Invalid, NotFound, Store

ROUTES: list[tuple[str, re.Pattern[str], str, str]] = [
    (method, re.compile(f"^{pattern}$"), template, handler)
    for method, pattern, template, handler in [
        ("GET", "/health", "/health", "health"),
        ("GET", "/metrics", "/metrics", "metrics"),
        ("POST", "/users", "/users", "create_user"),
        ("GET", "/users/(?P<id>[^/]+)", "/users/{id}", "get_user"),
        ("PUT", "/users/(?P<id>[^/]+)", "/users/{id}", "update_user"),
        ("DELETE", "/users/(?P<id>[^/]+)", "/users/{id}", "delete_user"),
        ("GET", "/users/(?P<id>[^/]+)/events", "/users/{id}/events", "list_events"),
        ("POST", "/events", "/events", "create_event"),
        ("GET", "/events/(?P<id>[^/]+)", "/events/{id}", "get_event"),
        ("PUT", "/events/(?P<id>[^/]+)", "/events/{id}", "update_event"),
        ("DELETE", "/events/(?P<id>[^/]+)", "/events/{id}", "delete_event"),
        ("POST", "/settings", "/settings", "create_setting"),
        ("GET", "/settings/(?P<id>[^/]+)", "/settings/{id}", "get_setting"),
        ("PUT", "/settings/(?P<id>[^/]+)", "/settings/{id}", "update_setting"),
        ("POST", "/sessions", "/sessions", "create_session"),
        ("GET", "/sessions/(?P<id>[^/]+)", "/sessions/{id}", "get_session"),
    ]
]

Reply = tuple[int, Any]


class Api:
    """Route handlers: each returns (status, JSON body) or raises a store error."""

    def __init__(self, store: Store, metrics: Metrics, replica: str) -> None:
        self.store = store
        self.metrics = metrics
        self.replica = replica

    def health(self, _id: str | None, _body: Any) -> Reply:
        status = self.store.check()
        healthy = all(value == "ok" for value in status.values())
        self.metrics.set_dependencies(status)
        failed = sorted(name for name, value in status.items() if value != "ok")
        body = {"status": "ok" if healthy else "unavailable", "replica": self.replica, "failed": failed, **status}
        return (200 if healthy else 503), body

    def create_user(self, _id: str | None, body: Any) -> Reply:
        return 201, self.store.create_user(_required_id(body), body)

    def get_user(self, user_id: str, _body: Any) -> Reply:
        return 200, self.store.get_user(user_id)

    def update_user(self, user_id: str, body: Any) -> Reply:
        return 200, self.store.update_user(user_id, body)

    def delete_user(self, user_id: str, _body: Any) -> Reply:
        self.store.delete_user(user_id)
        return 204, None

    def list_events(self, user_id: str, _body: Any) -> Reply:
        return 200, self.store.list_events(user_id)

    def create_event(self, _id: str | None, body: Any) -> Reply:
        return 201, self.store.create_event(_required_id(body), body)

    def get_event(self, event_id: str, _body: Any) -> Reply:
        doc, cached = self.store.get_event(event_id)
        return 200, {**doc, "cached": cached}

    def update_event(self, event_id: str, body: Any) -> Reply:
        return 200, self.store.update_event(event_id, body)

    def delete_event(self, event_id: str, _body: Any) -> Reply:
        self.store.delete_event(event_id)
        return 204, None

    def create_setting(self, _id: str | None, body: Any) -> Reply:
        return 201, self.store.create_setting(_required_id(body), body)

    def get_setting(self, key: str, _body: Any) -> Reply:
        return 200, self.store.get_setting(key)

    def update_setting(self, key: str, body: Any) -> Reply:
        return 200, self.store.update_setting(key, body)

    def create_session(self, _id: str | None, body: Any) -> Reply:
        if not isinstance(body, dict) or not isinstance(body.get("user_id"), str):
            raise Invalid("body must be a JSON object with a string 'user_id'")
        token = body.get("id")
        if token is not None and (not isinstance(token, str) or not token):
            raise Invalid("'id', when given, must be a non-empty string")
        return 201, {"token": self.store.create_session(body["user_id"], token)}

    def get_session(self, token: str, _body: Any) -> Reply:
        return 200, {"user_id": self.store.get_session(token)}


def _required_id(body: Any) -> str:
    if not isinstance(body, dict) or not isinstance(body.get("id"), str) or not body["id"]:
        raise Invalid("body must be a JSON object with a non-empty string 'id'")
    return str(body["id"])


def _dispatch(api: Api, method: str, path: str, raw: bytes) -> tuple[str, int, Any]:
    for route_method, pattern, template, handler in ROUTES:
        match = pattern.match(path)
        if match and route_method == method:
            try:
                body = json.loads(raw) if raw else None
                status, reply = getattr(api, handler)(match.groupdict().get("id"), body)
            except json.JSONDecodeError as exc:
                status, reply = 400, {"error": f"invalid JSON: {exc}"}
            except Invalid as exc:
                status, reply = 400, {"error": str(exc)}
            except NotFound as exc:
                status, reply = 404, {"error": f"not found: {exc}"}
            except Conflict as exc:
                status, reply = 409, {"error": str(exc)}
            except pymongo.errors.PyMongoError as exc:
                status, reply = 503, {"error": f"mongodb: {type(exc).__name__}: {str(exc)[:200]}"}
            except redis.RedisError as exc:
                status, reply = 503, {"error": f"redis: {type(exc).__name__}: {str(exc)[:200]}"}
            return template, status, reply
    return "unmatched", 404, {"error": f"no route for {method} {path}"}


def make_server(
    host: str, port: int, store: Store, replica: str, *, version: str = "1.0.0", failing: bool = False
) -> ThreadingHTTPServer:
    """``failing``: a defective release that answers every request with 500."""
    metrics = Metrics(version)
    api = Api(store, metrics, replica)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as separate writes; with Nagle on, the body waits
        # for the client's delayed ACK (~40 ms) on every keep-alive request.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass  # per-request logs would drown the drill's evidence; /metrics counts instead

        def _serve(self, method: str) -> None:
            started = time.perf_counter()
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0]
            if failing and path != "/metrics":
                template, status = "defect", 500
                payload = json.dumps({"error": f"release {version} is defective", "replica": replica}).encode()
                content_type = "application/json"
            elif method == "GET" and path == "/metrics":
                api.health(None, None)
                template, status = "/metrics", 200
                payload, content_type = metrics.render().encode(), "text/plain; version=0.0.4"
            else:
                template, status, reply = _dispatch(api, method, path, raw)
                payload = b"" if reply is None else json.dumps(reply).encode()
                content_type = "application/json"
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            metrics.observe(method, template, status, time.perf_counter() - started)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PUT(self) -> None:
            self._serve("PUT")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 128

    return Server((host, port), Handler)
