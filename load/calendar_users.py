"""Calendar Assistant users, for locust: sign in, browse the week, create, move and cancel events.

Run by chaos.measure.crowd as its own process; never import this module into a
drill's process (locust patches the standard library with gevent on import).

Each simulated user signs up and signs in once, then works through a weighted
mix of what calendar users do, with 2-6 s of thinking between actions. Every
action is one request from the user's point of view; its outcome goes into
locust's statistics and into a JSON-lines log, one line per request:

    {"t": <wall-clock start>, "s": <seconds>, "name": "browse week", "method": "GET",
     "status": 200, "ok": true, "error": "", "replica": 0, "retried": false}

and, each time the log is flushed (every quarter second), a line saying how far it is complete:

    {"observed_until": <wall-clock time>}

every request that started before that time is in the log above it (the start of the oldest request
still waiting for its answer, or the time of writing when none waits). The drill judges a window as
soon as the log is complete past its end, instead of waiting out the longest a request may take.

Several replica URLs and no load balancer in front of them (the local and
Docker targets): each request goes to the next replica in turn, and a request
whose connection was refused (nothing was sent) goes once to the next one, as a
load balancer's passive health check does (nginx's default
``proxy_next_upstream error``). One URL (a Kubernetes Service): every request
goes there.

What a user saw stays what it saw: a user whose account or event vanished (a
restore from an older backup) gets a failed request, then signs up again or
forgets the event, as a person would.

The run stops when the drill sends SIGINT, when ``--run-time`` has passed, or
when the drill's process is gone (``--drill-parent``): the load never outlives
the drill that started it. SIGINT takes the way locust gives SIGTERM: a handler
in a greenlet of its own quits the runner, so locust writes its statistics and
exits. (Left to Python, the KeyboardInterrupt would land in whatever greenlet
ran at that moment, a user's or the statistics writer's.)
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import signal
import threading
import time
import uuid
from typing import Any

import gevent
import requests
from locust import HttpUser, events, task

_log: Any = None
_log_lock = threading.Lock()
_replicas = itertools.count()
_calls = itertools.count()
_waiting: dict[int, float] = {}  # a request still waiting for its answer -> its wall-clock start


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    parser.add_argument("--replica-urls", default="", help="comma-separated app URLs; default: --host")
    parser.add_argument("--request-log", default="", help="JSON-lines file: one line per request")
    parser.add_argument("--request-timeout", type=float, default=5.0, help="seconds a user waits for an answer")
    parser.add_argument("--drill-parent", type=int, default=0, help="stop when this process is no longer the parent")
    parser.add_argument("--user-prefix", default="load", help="prefix of the ids of the users this run creates")
    parser.add_argument("--think-s", default="2,6", help="MIN,MAX seconds a user thinks between two actions")


@events.init.add_listener
def _started(environment: Any, **_kwargs: Any) -> None:
    global _log
    options = environment.parsed_options
    if options is not None and options.request_log:
        _log = open(options.request_log, "a", buffering=1 << 16)  # noqa: SIM115 - closed on quit
        gevent.spawn(_flush_every, 0.25)
    if options is not None and options.drill_parent:
        gevent.spawn(_watch_parent, environment, options.drill_parent)
    gevent.signal_handler(signal.SIGINT, _quit, environment)


def _quit(environment: Any) -> None:
    if environment.runner is not None:
        environment.runner.quit()


@events.quitting.add_listener
def _quitting(**_kwargs: Any) -> None:
    with _log_lock:
        if _log is not None:
            _log.flush()


def _flush_every(seconds: float) -> None:
    while True:
        gevent.sleep(seconds)
        with _log_lock:
            if _log is not None:
                complete = min(_waiting.values(), default=time.time())
                _log.write(json.dumps({"observed_until": math.floor(complete * 1e4) / 1e4}) + "\n")
                _log.flush()


def _watch_parent(environment: Any, parent: int) -> None:
    while os.getppid() == parent:
        gevent.sleep(0.5)
    if environment.runner is not None:
        environment.runner.quit()


def _record(line: dict[str, Any]) -> None:
    with _log_lock:
        if _log is not None:
            _log.write(json.dumps(line, separators=(",", ":")) + "\n")


class CalendarUser(HttpUser):
    host = "http://127.0.0.1"  # replaced by --host or --replica-urls
    think = (2.0, 6.0)  # replaced by --think-s

    def wait_time(self) -> float:
        return random.uniform(*self.think)

    def on_start(self) -> None:
        options = self.environment.parsed_options
        urls = (options.replica_urls if options is not None else "") or self.host
        self.urls = [url.rstrip("/") for url in urls.split(",") if url]
        self.timeout = options.request_timeout if options is not None else 5.0
        self.prefix = options.user_prefix if options is not None else "load"
        if options is not None:
            low, high = (float(part) for part in options.think_s.split(","))
            self.think = (low, high)
        self.session = requests.Session()
        self.events: list[str] = []
        self.sign_in()

    def on_stop(self) -> None:
        self.session.close()

    # -- one request, as the user saw it ------------------------------------------------------
    def call(self, name: str, method: str, path: str, body: Any = None, expect: tuple[int, ...] = (200,)) -> Any:
        key = next(_calls)
        started, started_mono = time.time(), time.monotonic()
        _waiting[key] = started
        try:
            status, error, payload, retried, length, replica = self._send(method, path, body, expect)
            seconds = time.monotonic() - started_mono
            _record({"t": round(started, 4), "s": round(seconds, 4), "name": name, "method": method, "status": status,
                     "ok": not error, "error": error, "replica": replica, "retried": retried})  # fmt: skip
        finally:
            del _waiting[key]  # once its line is written: only then is the log complete past its start
        self.environment.events.request.fire(
            request_type=method, name=name, response_time=seconds * 1000, response_length=length,
            exception=RuntimeError(error) if error else None, context={}, response=None, url=None,
        )  # fmt: skip
        return payload if not error else None, status

    def _send(self, method: str, path: str, body: Any, expect: tuple[int, ...]) -> tuple[int, str, Any, bool, int, int]:
        """To the next replica, and to the one after it if the first refused the connection (nothing was sent):
        the status, the error ("" if none), the answer, whether it was retried, its length, the replica."""
        first = next(_replicas) % len(self.urls)
        attempts = [first, (first + 1) % len(self.urls)] if len(self.urls) > 1 else [first]
        status, error, payload, retried, length = 0, "", None, False, 0
        for number, replica in enumerate(attempts):
            error = ""
            try:
                response = self.session.request(method, self.urls[replica] + path, json=body, timeout=self.timeout)
            except requests.ConnectionError as exc:
                refused = "refused" in str(exc).lower() and "timed out" not in str(exc).lower()
                error = "refused" if refused else "connection"
                if refused and number + 1 < len(attempts):
                    retried = True
                    continue  # nothing was sent: the next replica gets it
                break
            except requests.Timeout:
                error = "timeout"
                break
            status, length = response.status_code, len(response.content)
            if status not in expect:
                error = f"HTTP {status}"
            else:
                try:
                    payload = response.json() if response.content else None
                except ValueError:
                    error = "not JSON"
            break
        return status, error, payload, retried, length, replica

    # -- what users do ------------------------------------------------------------------------
    def sign_in(self) -> None:
        self.user_id = f"{self.prefix}-{uuid.uuid4().hex[:12]}"
        self.events = []
        self.token = ""
        account = {"id": self.user_id, "name": "Load User", "email": f"{self.user_id}@load.invalid"}
        _, status = self.call("sign up", "POST", "/users", account, (201,))
        if status != 201:
            return
        payload, _ = self.call("sign in", "POST", "/sessions", {"user_id": self.user_id}, (200, 201))
        if isinstance(payload, dict):
            self.token = str(payload.get("token", ""))

    def _signed_in(self) -> bool:
        if not self.token:
            self.sign_in()
        return bool(self.token)

    @task(6)
    def browse_week(self) -> None:
        if not self._signed_in():
            return
        _, status = self.call("browse week", "GET", f"/users/{self.user_id}/events")
        if status == 404:
            self.sign_in()  # the account is gone: sign up again

    @task(2)
    def check_session(self) -> None:
        if not self._signed_in():
            return
        _, status = self.call("check session", "GET", f"/sessions/{self.token}")
        if status == 404:
            self.sign_in()  # signed out by the outage: sign in again

    @task(3)
    def open_event(self) -> None:
        if not self._signed_in() or not self.events:
            return
        event = random.choice(self.events)
        _, status = self.call("open event", "GET", f"/events/{event}")
        if status == 404:
            self.events.remove(event)

    @task(3)
    def create_event(self) -> None:
        if not self._signed_in():
            return
        event = f"{self.user_id}-{uuid.uuid4().hex[:8]}"
        day = random.randint(0, 6)
        hour = random.randint(8, 17)
        body = {
            "id": event,
            "user_id": self.user_id,
            "title": "Meeting",
            "start": f"2026-12-0{day + 1}T{hour:02d}:00:00Z",
            "end": f"2026-12-0{day + 1}T{hour:02d}:30:00Z",
        }
        _, status = self.call("create event", "POST", "/events", body, (201,))
        if status == 201:
            self.events.append(event)
            del self.events[:-20]

    @task(2)
    def move_event(self) -> None:
        if not self._signed_in() or not self.events:
            return
        event = random.choice(self.events)
        _, status = self.call("move event", "PUT", f"/events/{event}", {"title": "Meeting (moved)"})
        if status == 404:
            self.events.remove(event)

    @task(1)
    def cancel_event(self) -> None:
        if not self._signed_in() or not self.events:
            return
        event = self.events.pop(random.randrange(len(self.events)))
        self.call("cancel event", "DELETE", f"/events/{event}", expect=(200, 204))
