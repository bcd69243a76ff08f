"""The sandbox as a background service for people: ``drill sandbox up|status|down``.

``up`` starts a detached daemon that owns a LocalTarget and writes its
endpoints to ``<workdir>/sandbox.json``; ``down`` signals the daemon, which
stops every process it started.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from chaos import guardian
from chaos.errors import ConfigError, StartupError, TargetError
from chaos.servers import launch
from chaos.servers.process import is_ours, process_cmdline, process_start_ticks
from chaos.targets.base import Endpoints
from chaos.targets.control import SandboxClient, serve_control
from chaos.targets.local import LocalTarget
from chaos.targets.registry import sweep_orphans

__all__ = ["connect", "sandbox_down", "sandbox_status", "sandbox_up", "serve"]

STATE = "sandbox.json"
UP_TIMEOUT_S = 90.0
DOWN_TIMEOUT_S = 30.0


def _read_state(workdir: Path) -> dict[str, Any] | None:
    """The daemon's state file, checked field by field; None when there is none."""
    path = workdir / STATE
    try:
        state = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a readable sandbox state file ({exc}); if no sandbox runs in {workdir}, "
                          "remove it") from None  # fmt: skip
    fields = {"pid": int, "start_ticks": int, "argv": list, "control": str, "endpoints": dict, "replicas": int,
              "token": str, "workdir": str}  # fmt: skip
    wrong = [
        name for name, kind in fields.items() if not isinstance(state, dict) or not isinstance(state.get(name), kind)
    ]
    if wrong:
        raise ConfigError(f"{path}: garbled sandbox state ({', '.join(wrong)} missing or of the wrong type); if no "
                          f"sandbox runs in {workdir}, remove it")  # fmt: skip
    if Path(state["workdir"]) != workdir.resolve():  # a copy, or a file moved: the sandbox it names is elsewhere's
        raise ConfigError(f"{path}: the state of the sandbox in {state['workdir']}, not of {workdir.resolve()}; "
                          "nothing was signalled: act on that sandbox with --workdir there")  # fmt: skip
    return dict(state)


def _daemon_alive(state: dict[str, Any]) -> bool:
    """The state names a live process that is this sandbox's daemon: same pid, start time and program."""
    return is_ours(state["pid"], state["start_ticks"], state["argv"])


def serve(workdir: Path, replicas: int, redis_password_env: str | None = None) -> None:
    """Run in the daemon: start the stack, publish its endpoints, wait for a signal."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stop.set())
    password = os.environ.get(redis_password_env) if redis_password_env else None
    target = LocalTarget(workdir / "runs", replicas=replicas, redis_password=password)
    target.start()
    token = secrets.token_urlsafe(32)
    control = serve_control(target, token)
    try:
        state = {"pid": os.getpid(), "start_ticks": process_start_ticks(os.getpid()),
                 "argv": list(process_cmdline(os.getpid()) or ()), "started_at": time.time(),
                 "replicas": replicas, "control": f"http://127.0.0.1:{control.server_address[1]}",
                 "token": token, "endpoints": target.endpoints.to_json(),
                 "workdir": str(workdir.resolve())}  # fmt: skip
        tmp = workdir / f".{STATE}.tmp"
        # Only its owner reads it: it holds the control API's token and the stores' credentials.
        tmp.touch(mode=0o600)
        tmp.chmod(0o600)
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(workdir / STATE)
        stop.wait()
    finally:
        control.shutdown()
        target.close()
        (workdir / STATE).unlink(missing_ok=True)


def connect(workdir: Path) -> SandboxClient:
    """A Target for the sandbox running in ``workdir``, operated through its daemon."""
    state = _read_state(workdir)
    if state is None or not _daemon_alive(state):
        raise ConfigError(f"no sandbox is running in {workdir}: start one with `drill sandbox up`")
    data = dict(state["endpoints"])
    data["apps"], data["scrape_targets"] = tuple(data["apps"]), tuple(data.get("scrape_targets", ()))
    return SandboxClient(state["control"], workdir, state["token"], Endpoints(**data))


def sandbox_up(workdir: Path, replicas: int | None = None, redis_password_env: str | None = None) -> dict[str, Any]:
    """Start the daemon (or find the running one) and return the endpoints.

    ``replicas``: None takes the running sandbox as it is, or starts one with 3; a number that
    differs from the running sandbox's is an error, never silently ignored.
    """
    state = _read_state(workdir)
    if state is not None and _daemon_alive(state):
        if replicas is not None and state["replicas"] != replicas:
            raise ConfigError(f"a sandbox with {state['replicas']} replicas already runs in {workdir}; stop it first "
                              f"(`drill sandbox down --workdir {workdir}`) or ask for {state['replicas']}")  # fmt: skip
        return dict(state["endpoints"])
    launch.preflight()
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "sandbox.log"
    with log_path.open("ab") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "chaos.cli", "sandbox", "serve", "--workdir", str(workdir),
             "--replicas", str(replicas or 3),
             *(["--redis-password-env", redis_password_env] if redis_password_env else [])],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            # It outlives whoever started it: no runner's guardian may take it for that runner's leftovers.
            env={key: value for key, value in os.environ.items() if key != guardian.OWNER_VARIABLE},
        )  # fmt: skip
    deadline = time.monotonic() + UP_TIMEOUT_S
    while time.monotonic() < deadline:
        state = _read_state(workdir)
        if state is not None and state["pid"] == daemon.pid:
            return dict(state["endpoints"])
        if daemon.poll() is not None:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-20:])
            raise StartupError(f"the sandbox daemon exited with code {daemon.returncode}; {log_path}:\n{tail}")
        time.sleep(0.1)
    daemon.terminate()
    raise StartupError(f"the sandbox did not come up within {UP_TIMEOUT_S:g}s; see {log_path}")


def _probe(check: Any) -> str:
    try:
        return "ok" if check() else "not ready"
    except launch.NOT_READY as exc:
        return f"error: {type(exc).__name__}: {exc}"[:200]


def sandbox_status(workdir: Path) -> dict[str, Any]:
    """What answers right now, observed from outside the daemon."""
    state = _read_state(workdir)
    if state is None or not _daemon_alive(state):
        return {"running": False, "workdir": str(workdir)}
    endpoints = state["endpoints"]
    apps = {}
    for url in endpoints["apps"]:
        try:
            response = httpx.get(f"{url}/health", timeout=2)
            apps[url] = "ok" if response.status_code == 200 else f"{response.status_code}: {response.text[:200]}"
        except httpx.HTTPError as exc:
            apps[url] = f"error: {type(exc).__name__}"
    return {
        "running": True,
        "pid": state["pid"],
        "mongodb": _probe(lambda: launch.mongo_ready(endpoints["mongodb_uri"])),
        "redis": _probe(lambda: launch.redis_ready(endpoints["redis_url"])),
        "toxiproxy": _probe(lambda: launch.toxiproxy_ready(endpoints["toxiproxy_api"])),
        "prometheus": _probe(lambda: launch.prometheus_ready(endpoints["prometheus_api"]))
        if endpoints.get("prometheus_api")
        else "not run",
        "apps": apps,
        "endpoints": endpoints,
    }


def sandbox_down(workdir: Path) -> bool:
    """Stop the daemon and everything it started; False if none was running.

    Only the process the state file describes — same pid, start time and program — is signalled:
    a stale file whose pid now belongs to another process is removed, and nothing is signalled.
    """
    state = _read_state(workdir)
    if state is None or not _daemon_alive(state):
        (workdir / STATE).unlink(missing_ok=True)
        sweep_orphans(workdir / "runs")
        return False
    pid = int(state["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + DOWN_TIMEOUT_S
    while _daemon_alive(state):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.1)
    killed = sweep_orphans(workdir / "runs")
    (workdir / STATE).unlink(missing_ok=True)
    if killed:
        raise TargetError(f"the sandbox daemon did not stop cleanly; killed leftovers: {', '.join(killed)}")
    return True
