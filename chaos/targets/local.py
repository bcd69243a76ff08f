"""The embedded sandbox: the whole stack as real processes on 127.0.0.1.

    app-0..N ──► toxiproxy "mongodb" ──► MongoDB-wire server (mongod or FerretDB)
       ▲     └─► toxiproxy "redis"   ──► redis-server
       └── prometheus scrapes every replica's /metrics

Everything lives in one run directory under ``base_dir``; ``close`` stops it
all, and the next start sweeps what a crashed run left behind.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import time
from typing import TYPE_CHECKING
from urllib.parse import quote

from chaos import guardian, interrupts
from chaos.errors import ComponentError, StartupError, WaitTimeoutError
from chaos.servers import launch, prometheus
from chaos.servers.process import ManagedProcess, ProcessSpec, marked_under
from chaos.servers.toxiproxy import ToxiproxyClient
from chaos.targets.base import COMPONENTS, Endpoints, PlatformEvent, Releases, ReplicaStatus, unsupported
from chaos.targets.registry import RunRecord, sweep_orphans
from chaos.targets.supervisor import ReplicaSet
from chaos.wait import wait_for

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

__all__ = ["LocalTarget"]

HOST = launch.HOST
STORES = ("mongodb", "redis", "toxiproxy")


class LocalTarget:
    """Start, break and repair the Calendar Assistant stack on this machine."""

    description = "local sandbox (processes on 127.0.0.1)"
    kind = "local"
    capabilities = frozenset({"data-files", "releases", "pause", "log-tails"})

    def __init__(
        self,
        base_dir: Path,
        *,
        replicas: int = 3,
        database: str = "calendar",
        max_replicas: int = 16,
        ready_timeout: float = 30.0,
        keep: bool = False,
        monitoring: bool = True,
        redis_password: str | None = None,
    ) -> None:
        self.base_dir = base_dir
        self.initial_replicas = replicas
        self.database = database
        self.max_replicas = max_replicas
        self.ready_timeout = ready_timeout
        self.keep = keep
        self.run_dir = base_dir / f"run-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        # Started in this order, stopped in reverse; monitoring last, as it watches the rest.
        self.singletons = (*STORES, "prometheus") if monitoring else STORES
        self._ports = {name: launch.free_port() for name in (*self.singletons, "mongodb-proxy", "redis-proxy")}
        self._app_ports: list[int] = []
        self._singletons: dict[str, ManagedProcess] = {}
        self._mongo_generation = 0
        self.redis_persistence = "none"
        # In URLs only (quoted: a '@' or '/' in it would break them), never on a command line.
        self._redis_auth = f":{quote(redis_password, safe='')}@" if redis_password else ""
        self._redis_password = redis_password
        self._releases = Releases()
        self._apps: ReplicaSet | None = None
        self._record: RunRecord | None = None
        self._toxiproxy: ToxiproxyClient | None = None

    # -- endpoints ----------------------------------------------------------
    def _url(self, scheme: str, key: str) -> str:
        return f"{scheme}://{HOST}:{self._ports[key]}"

    @property
    def endpoints(self) -> Endpoints:
        direct_mongo = f"{self._url('mongodb', 'mongodb')}/?directConnection=true"
        proxied_mongo = f"{self._url('mongodb', 'mongodb-proxy')}/?directConnection=true"
        return Endpoints(
            apps=tuple(f"http://{HOST}:{port}" for port in self._app_ports[: self._desired_apps()]),
            database=self.database,
            mongodb_uri=direct_mongo,
            mongodb_proxy_uri=proxied_mongo,
            redis_url=f"redis://{self._redis_auth}{HOST}:{self._ports['redis']}/0",
            redis_proxy_url=f"redis://{self._redis_auth}{HOST}:{self._ports['redis-proxy']}/0",
            toxiproxy_api=self._url("http", "toxiproxy"),
            prometheus_api=self._url("http", "prometheus") if "prometheus" in self._ports else "",
            proxies={
                "mongodb": {"listen": f"{HOST}:{self._ports['mongodb-proxy']}",
                            "upstream": f"{HOST}:{self._ports['mongodb']}"},
                "redis": {"listen": f"{HOST}:{self._ports['redis-proxy']}",
                          "upstream": f"{HOST}:{self._ports['redis']}"},
            },
        )  # fmt: skip

    def _desired_apps(self) -> int:
        return self._apps.desired if self._apps else 0

    @property
    def toxiproxy(self) -> ToxiproxyClient:
        if self._toxiproxy is None:
            raise ComponentError("toxiproxy is not running: start the target first")
        return self._toxiproxy

    def locator(self) -> dict[str, str]:
        """How another process finds this target again: its run directory (see chaos.targets.reattach)."""
        return {"kind": "local", "run_dir": str(self.run_dir)}

    # -- lifecycle ----------------------------------------------------------
    def start(self) -> None:
        # every binary found before anything starts: nothing half-starts
        launch.preflight(monitoring="prometheus" in self.singletons)
        self.base_dir.mkdir(parents=True, exist_ok=True)
        sweep_orphans(self.base_dir)
        guardian.watch("run-dir", path=str(self.run_dir.resolve()), keep=self.keep)
        self.run_dir.mkdir(parents=True)
        self._record = RunRecord(self.run_dir)
        try:
            for component in self.singletons:
                self.start_component(component)
            self._apps = ReplicaSet(self._app_spec, self._register)
            self.scale("app", self.initial_replicas)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop everything this target started. Safe to call more than once.

        A run whose directory goes with it has no data to keep consistent: its stores are killed at once
        (FerretDB spends 3 s shutting down gracefully once it holds data). A kept run's are stopped in order.
        """
        if self._apps is not None:
            self._apps.close()
            self._apps = None
        if self._toxiproxy is not None:
            self._toxiproxy.close()
            self._toxiproxy = None
        for name in reversed(self.singletons):
            process = self._singletons.pop(name, None)
            if process is not None:
                process.stop() if self.keep else process.kill()
        for pid in marked_under(self.run_dir.resolve()):  # started as an interrupt landed, before it was kept
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)  # each child leads its own process group
        if not self.keep:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def _register(self, process: ManagedProcess) -> None:
        if self._record is not None:
            self._record.add_child(process.name, process.pid, process.start_ticks, process.spec.argv)

    # -- specs --------------------------------------------------------------
    def _log(self, name: str) -> Path:
        return self.run_dir / "logs" / f"{name}.log"

    def _singleton_spec(self, component: str) -> tuple[ProcessSpec, Callable[[], bool]]:
        port = self._ports[component]
        if component == "mongodb":
            data = self.run_dir / "mongodb" / f"data-{self._mongo_generation}"
            uri = f"mongodb://{HOST}:{port}/?directConnection=true"
            return launch.mongo_spec(component, port, data, self._log(component)), lambda: launch.mongo_ready(uri)
        if component == "redis":
            url = self.endpoints.redis_url
            secrets = None
            if self._redis_password:  # in a file only its owner reads, not in the process list
                secrets = self.run_dir / "redis-auth.conf"
                quoted = self._redis_password.replace("\\", "\\\\").replace('"', '\\"')  # a space or quote in it
                with open(os.open(secrets, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as config:
                    config.write(f'requirepass "{quoted}"\n')
            spec = launch.redis_spec(component, port, self.run_dir / "redis", self._log(component),
                                     self.redis_persistence, config_file=secrets)  # fmt: skip
            return spec, lambda: launch.redis_ready(url)
        api = f"http://{HOST}:{port}"
        if component == "prometheus":
            home = self.run_dir / "prometheus"
            prometheus.write_config(home / "prometheus.yml", home / "targets.json")
            self._write_scrape_targets()
            spec = launch.prometheus_spec(component, port, home / "prometheus.yml", home / "data", self._log(component))
            return spec, lambda: launch.prometheus_ready(api)
        return launch.toxiproxy_spec(component, port, self._log(component)), lambda: launch.toxiproxy_ready(api)

    def _write_scrape_targets(self) -> None:
        """Tell monitoring which replicas exist now (service discovery through a file)."""
        if "prometheus" in self.singletons:
            replicas = {f"app-{index}": f"{HOST}:{self._app_ports[index]}" for index in range(self._desired_apps())}
            prometheus.write_targets(self.run_dir / "prometheus" / "targets.json", replicas)

    def _app_spec(self, index: int) -> ProcessSpec:
        while len(self._app_ports) <= index:
            self._app_ports.append(launch.free_port())
        endpoints = self.endpoints
        return launch.app_spec(
            f"app-{index}", self._app_ports[index], endpoints.mongodb_proxy_uri,
            endpoints.redis_proxy_url, self.database, self._log(f"app-{index}"), self.release,
        )  # fmt: skip

    def _await_ready(self, process: ManagedProcess, ready: Callable[[], bool]) -> None:
        def check() -> bool:
            if not process.alive():
                raise StartupError(
                    f"{process.name} exited with code {process.returncode()} during start-up "
                    f"({' '.join(process.spec.argv)}).\nLast log lines:\n{process.log_tail()}"
                )
            return ready()

        try:
            wait_for(
                check,
                what=f"{process.name} to accept connections",
                timeout=self.ready_timeout,
                not_yet=launch.NOT_READY,
            )
        except WaitTimeoutError as exc:
            raise StartupError(f"{exc}\nLast log lines of {process.name}:\n{process.log_tail()}") from exc

    # -- operations ---------------------------------------------------------
    def _check_component(self, component: str) -> None:
        if component not in COMPONENTS:
            raise ComponentError(f"unknown component {component!r}; components: {', '.join(COMPONENTS)}")
        if component != "app" and component not in self.singletons:
            raise ComponentError(f"{component}: not part of this target (started without monitoring)")

    def start_component(self, component: str, *, fresh_data: bool = False) -> None:
        """Start a stopped component; ``fresh_data`` gives MongoDB an empty data directory."""
        self._check_component(component)
        if component == "app":
            self.scale("app", self.initial_replicas)
            return
        current = self._singletons.get(component)
        if current is not None and current.alive():
            raise ComponentError(f"start {component}: already running as pid {current.pid}")
        if fresh_data and component == "mongodb":
            self._mongo_generation += 1
        spec, ready = self._singleton_spec(component)
        with interrupts.deferred():  # started and kept in one piece: close() then stops it, interrupted or not
            process = ManagedProcess(spec)
            self._singletons[component] = process
            self._register(process)
        self._await_ready(process, ready)
        if component == "toxiproxy":
            self._create_proxies()

    def _create_proxies(self) -> None:
        """A (re)started Toxiproxy knows no proxy: create one per link, each read back."""
        if self._toxiproxy is not None:
            self._toxiproxy.close()
        self._toxiproxy = ToxiproxyClient(self._url("http", "toxiproxy"))
        for link, proxy in self.endpoints.proxies.items():
            self._toxiproxy.create_proxy(link, proxy["listen"], proxy["upstream"])

    def stop(self, component: str) -> None:
        """Stop gracefully (SIGTERM); for the app this is a scale to 0."""
        self._check_component(component)
        if component == "app":
            self.scale("app", 0)
            return
        process = self._singletons.get(component)
        if process is None or not process.alive():
            raise ComponentError(f"stop {component}: not running")
        process.stop()

    def kill(self, component: str, replica: int | None = None, sig: int = signal.SIGKILL) -> list[int]:
        """Signal (default SIGKILL) a component, or one app replica; returns the pids.

        Waits up to 10 s for each process to exit and reaps it; one that outlives
        a SIGTERM is left running, never escalated to SIGKILL behind the caller's
        back. Killed app replicas are restarted by the supervisor after a
        back-off; data stores stay down until ``start_component``.
        """
        self._check_component(component)
        if component == "app":
            apps = self._require_apps()
            indices = range(apps.desired) if replica is None else [replica]
            if replica is not None and not 0 <= replica < apps.desired:
                raise ComponentError(f"kill app replica {replica}: there are {apps.desired} replicas")
            return [apps.kill(index, sig).pid for index in indices]
        process = self._singletons.get(component)
        if process is None or not process.alive():
            raise ComponentError(f"kill {component}: no running process to kill")
        process.kill(sig)
        return [process.pid]

    def scale(self, component: str, replicas: int) -> None:
        """Run ``replicas`` app replicas and wait until the new ones answer HTTP."""
        self._check_component(component)
        if component != "app":
            raise ComponentError(f"scale {component}: only the app is replicated on this target")
        if not 0 <= replicas <= self.max_replicas:
            raise ComponentError(f"scale app to {replicas}: allowed range is 0..{self.max_replicas}")
        started = self._require_apps().scale(replicas)
        self._write_scrape_targets()
        for process in started:
            url = f"http://{HOST}:{self._app_ports[int(process.name.rsplit('-', 1)[1])]}/health"
            self._await_ready(process, functools.partial(launch.http_answers, url))

    def kill_all(self, sig: int = signal.SIGKILL) -> dict[str, list[int]]:
        """Every process of the stack signalled at once, as when the whole cluster is lost.

        App replicas are not restarted: with the cluster gone there is no
        Deployment to replace them; ``scale`` brings them back. Returns the pids per component.
        """
        killed: dict[str, list[int]] = {"app": [process.pid for process in self._require_apps().crash(sig)]}
        for name in self.singletons:
            process = self._singletons.get(name)
            if process is not None and process.alive():
                process.kill(sig)
                killed[name] = [process.pid]
        return killed

    def _require_apps(self) -> ReplicaSet:
        if self._apps is None:
            raise ComponentError("the app is not running: start the target first")
        return self._apps

    @property
    def release(self) -> dict[str, str]:
        return self._releases.current

    def deploy(self, version: str, defect: str = "") -> None:
        """Roll every replica onto a new release (``helm upgrade``), without waiting for readiness:
        a release that crash-loops never gets ready, and the prober is the judge of that."""
        self._releases.push(version, defect)
        self._restart_apps(wait=False)

    def rollback(self) -> str:
        """Back to the previous release (``helm rollback``), waiting until every replica answers."""
        self._releases.pop()
        self._restart_apps(wait=True)
        return self.release["version"]

    def _restart_apps(self, *, wait: bool) -> None:
        apps = self._require_apps()
        replicas = apps.desired
        apps.scale(0)
        if wait:
            self.scale("app", replicas)
        else:
            apps.scale(replicas)
            self._write_scrape_targets()

    def _processes(self, component: str, replica: int | None) -> list[ManagedProcess]:
        self._check_component(component)
        if component == "app":
            running = self._require_apps().processes()
            return running if replica is None else [running[replica]]
        process = self._singletons.get(component)
        return [process] if process is not None and process.alive() else []

    def pause(self, component: str, replica: int | None = None) -> list[str]:
        """Freeze a component's processes (SIGSTOP): they hold their sockets and answer nothing."""
        frozen = self._processes(component, replica)
        if not frozen:
            raise ComponentError(f"pause {component}: no running process")
        for process in frozen:
            process.send_signal(signal.SIGSTOP)
        return [process.name for process in frozen]

    def unpause(self, component: str, replica: int | None = None) -> None:
        for process in self._processes(component, replica):
            process.send_signal(signal.SIGCONT)

    def disconnect(self, component: str) -> None:
        unsupported(self, "network-disconnect")

    def connect(self, component: str) -> None:
        unsupported(self, "network-disconnect")

    def platform_events(self) -> list[PlatformEvent]:
        """The supervisor's restarts of killed replicas (a Deployment's replacements)."""
        restarted = list(self._apps.restarted) if self._apps is not None else []
        return [PlatformEvent("restarted", "app", name, wall, "by the supervisor") for wall, name in restarted]

    def set_redis_persistence(self, mode: str) -> None:
        """Switch the running Redis to ``mode`` (none, aof, snapshot); a restart keeps it."""
        launch.switch_redis_persistence(self.endpoints.redis_url, mode, rewrite=False)
        self.redis_persistence = mode

    def data_dir(self, component: str) -> Path:
        """Where a data store keeps its data now."""
        if component == "mongodb":
            return self.run_dir / "mongodb" / f"data-{self._mongo_generation}"
        if component == "redis":
            return self.run_dir / "redis"
        raise ComponentError(f"{component} keeps no data files")

    def data_files(self, component: str) -> list[Path]:
        """The files holding a data store's data now (for on-disk corruption of a stopped server)."""
        directory = self.data_dir(component)
        return sorted(path for path in directory.rglob("*") if path.is_file() and path.stat().st_size > 0)

    def log_tails(self, lines: int = 40) -> dict[str, str]:
        """The last ``lines`` of each component's log (every replica, every restart appended)."""
        tails = {}
        for path in sorted((self.run_dir / "logs").glob("*.log")):
            text = path.read_text(errors="replace").splitlines()
            tails[path.stem] = "\n".join(text[-lines:])
        return tails

    def status(self) -> list[ReplicaStatus]:
        rows = [ReplicaStatus(name, name, process.pid, process.alive()) for name, process in self._singletons.items()]
        if self._apps is not None:
            for process, restarts in zip(self._apps.processes(), self._apps.restarts(), strict=True):
                rows.append(ReplicaStatus("app", process.name, process.pid, process.alive(), restarts))
        return rows
