"""The Docker target: the stack as containers on a user-defined network, started through testcontainers.

    app-0..N ──► toxiproxy "mongodb" ──► mongodb (FerretDB or mongo:7, on a named volume)
       ▲     └─► toxiproxy "redis"   ──► redis (on a named volume)
       └── prometheus scrapes every replica by its network alias

Every container, network and volume is named ``chaos-<run id>-...`` and carries
the labels of the tool, the run, and a digest of the run's token, whose claim the
local ledger holds from before the first object is made (chaos.ownership): a
sweep removes only what a claim of this machine proves to be a dead run's,
whether or not Ryuk runs. Host ports are chosen once and bound on loopback only,
so they stay the same when a container restarts and nothing listens beyond this
machine.

Supervision is Docker's: app replicas run with the restart policy ``always``, so
one whose process dies comes back on its own (the platform events say when);
data stores have none, and stay down until started. A kill is a signal to the
container's main process, sent on this host: Docker sees a crash, as it would
of a real one, not a manual stop (which it would not restart).
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import shutil
import signal
import socket
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import docker
import docker.errors
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network

from chaos import guardian
from chaos.errors import ComponentError, StartupError, WaitTimeoutError
from chaos.ownership import LABEL_TOKEN, RUN_ID, Owners, Sweep
from chaos.servers import launch, prometheus
from chaos.servers.process import pid_alive
from chaos.servers.toxiproxy import ToxiproxyClient
from chaos.targets.base import COMPONENTS, Endpoints, PlatformEvent, Releases, ReplicaStatus
from chaos.targets.images import IMAGE_SETS, release_image, require_images
from chaos.wait import wait_for

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from docker.models.containers import Container

    from chaos.targets.images import Component, ImageSet

__all__ = [
    "LABEL_RUN",
    "LABEL_TOOL",
    "DockerTarget",
    "docker_client",
    "remove_run",
    "sweep_orphan_runs",
]

HOST = "127.0.0.1"
LABEL_TOOL, LABEL_RUN = "app.kubernetes.io/managed-by", "chaos-drill/run"
TOOL = "chaos-drill"
CONFIG_PREFIX = "chaos-docker-"  # + the run's id: the run's own files on this machine (Prometheus's settings)
STORES = ("mongodb", "redis", "toxiproxy", "prometheus")
PROXY_PORTS = {"mongodb": 27018, "redis": 6380}  # where Toxiproxy listens for each link, inside the network
STOP_TIMEOUT_S = 5


def _engine_listens() -> bool:
    """Whether the local engine's socket takes a connection; an engine elsewhere is left to the client to find."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        return True
    with socket.socket(socket.AF_UNIX) as probe:
        probe.settimeout(2)
        try:
            probe.connect(host.removeprefix("unix://"))
        except OSError:
            return False
    return True


def docker_client() -> docker.DockerClient:
    """The Docker engine of ``DOCKER_HOST`` (default: the local socket), or a message saying it does not answer."""
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")  # cleanup is by our own labels
    os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")
    if not _engine_listens():
        raise StartupError("no Docker engine answers on /var/run/docker.sock (or DOCKER_HOST); start one "
                           "(`dockerd &` as root, or Docker Desktop), or drill another target")  # fmt: skip
    try:
        client = docker.from_env(timeout=60)
    except docker.errors.DockerException as exc:
        raise StartupError(f"no Docker engine answers ({exc}); start one (`dockerd &` as root, or Docker Desktop), "
                           "or drill another target") from None  # fmt: skip
    try:
        client.ping()
    except docker.errors.DockerException as exc:
        client.close()
        raise StartupError(f"no Docker engine answers ({exc}); start one (`dockerd &` as root, or Docker Desktop), "
                           "or drill another target") from None  # fmt: skip
    return client


class DockerTarget:
    """Start, break and repair the Calendar Assistant stack as Docker containers."""

    kind = "docker"
    capabilities = frozenset({"data-files", "releases", "pause", "network-disconnect", "log-tails"})

    def __init__(
        self,
        *,
        replicas: int = 3,
        images: str = "local",
        database: str = "calendar",
        max_replicas: int = 16,
        ready_timeout: float = 60.0,
        redis_password: str | None = None,
        owners: Owners | None = None,
    ) -> None:
        self.images: ImageSet = IMAGE_SETS[images]
        self.initial_replicas, self.database, self.max_replicas = replicas, database, max_replicas
        self.ready_timeout = ready_timeout
        self.run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        self.description = f"Docker containers ({images} images, run {self.run_id})"
        self._owners = owners or Owners()
        self.labels = {LABEL_TOOL: TOOL, LABEL_RUN: self.run_id}  # and the token's digest, once claimed
        # Redis never runs without a password (protected mode would refuse the app): the configured one, else one
        # for this run only.
        self._redis_password = redis_password or secrets.token_hex(16)
        self._ports = {name: launch.free_port() for name in (*STORES, "mongodb-proxy", "redis-proxy")}
        self._app_ports: list[int] = []
        self._containers: dict[str, DockerContainer] = {}  # name (mongodb, app-0, ...) -> container
        self._volumes: dict[str, str] = {}  # component -> the named volume it runs on now
        self._generation = 0
        self._releases = Releases()
        self._apps = 0
        self._events: list[PlatformEvent] = []
        self._events_stream: Any = None
        self._client: docker.DockerClient | None = None
        self._network: Network | None = None
        self._config_dir = Path(tempfile.gettempdir()) / f"{CONFIG_PREFIX}{self.run_id}"  # made by start
        self._lock = threading.RLock()

    # -- endpoints ----------------------------------------------------------
    @property
    def endpoints(self) -> Endpoints:
        auth = f":{quote(self._redis_password, safe='')}@"
        return Endpoints(
            apps=tuple(f"http://{HOST}:{port}" for port in self._app_ports[: self._apps]),
            database=self.database,
            mongodb_uri=f"mongodb://{HOST}:{self._ports['mongodb']}/?directConnection=true",
            mongodb_proxy_uri=f"mongodb://{HOST}:{self._ports['mongodb-proxy']}/?directConnection=true",
            redis_url=f"redis://{auth}{HOST}:{self._ports['redis']}/0",
            redis_proxy_url=f"redis://{auth}{HOST}:{self._ports['redis-proxy']}/0",
            toxiproxy_api=f"http://{HOST}:{self._ports['toxiproxy']}",
            prometheus_api=f"http://{HOST}:{self._ports['prometheus']}",
            proxies=self._proxies(),
            scrape_targets=tuple(f"app-{index}:{self.images.app.port}" for index in range(self._apps)),
        )

    def _proxies(self) -> dict[str, dict[str, str]]:
        """Toxiproxy's links, as it sees them inside the network (where it listens, and where to), and where
        the drill reaches each from this host."""
        return {link: {"listen": f"0.0.0.0:{port}", "upstream": f"{link}:{self._component(link).port}",
                       "reach": f"{HOST}:{self._ports[f'{link}-proxy']}"}
                for link, port in PROXY_PORTS.items()}  # fmt: skip

    def locator(self) -> dict[str, str]:
        return {"kind": "docker", "run": self.run_id}

    def _component(self, name: str) -> Component:
        component: Component = getattr(self.images, name)
        return component

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            raise ComponentError("the Docker target is not started")
        return self._client

    # -- lifecycle ----------------------------------------------------------
    def start(self) -> None:
        self._client = docker_client()
        require_images(self._client, self.images)
        claim = self._owners.claim(self.run_id, self.kind, self._name(""))  # before the first object
        self.labels[LABEL_TOKEN] = claim.digest
        guardian.watch("docker", run=self.run_id, digest=claim.digest, owners=str(self._owners.directory.resolve()),
                       host=os.environ.get("DOCKER_HOST", ""))  # fmt: skip
        self._config_dir.mkdir(mode=0o700)  # Prometheus's settings; the sweeps remove it with the run
        try:
            network = Network(docker_network_kw={"labels": self.labels})
            network.name = self._name("network")
            self._network = network.create()
            self._watch_events()
            # Each container start is half a second of the engine's; the stores need nothing of each other to
            # start (Toxiproxy reaches its upstreams on use): started together, then the replicas together.
            with ThreadPoolExecutor(len(STORES), thread_name_prefix=f"start {self.run_id}") as pool:
                list(pool.map(self.start_component, STORES))
            self.scale("app", self.initial_replicas)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Remove every container, the network and the volumes of this run. Safe to call more than once."""
        if self._events_stream is not None:
            with contextlib.suppress(Exception):
                self._events_stream.close()
            self._events_stream = None
        containers = list(self._containers.values())
        if containers:  # each removal is the engine's time, not ours: all at once
            with ThreadPoolExecutor(len(containers), thread_name_prefix=f"close {self.run_id}") as pool:
                list(pool.map(_removed, containers))
        self._containers.clear()
        if self._network is not None:
            with contextlib.suppress(Exception):
                self._network.remove()
            self._network = None
        if self._client is not None:
            mine: dict[str, str | list[str] | bool] = {"label": f"{LABEL_RUN}={self.run_id}"}
            for volume in self._client.volumes.list(filters=mine):
                with contextlib.suppress(Exception):
                    volume.remove(force=True)
            with contextlib.suppress(Exception):  # the claim goes only with the last object it covers
                if not (self._client.containers.list(all=True, filters=mine) or self._client.networks.list(filters=mine)
                        or self._client.volumes.list(filters=mine)):  # fmt: skip
                    self._owners.release(self.run_id)
        shutil.rmtree(self._config_dir, ignore_errors=True)

    def _watch_events(self) -> None:
        """Docker's own account of the run's containers (die, start, pause...), kept as platform events."""
        stream = self.client.events(decode=True, filters={"label": f"{LABEL_RUN}={self.run_id}", "type": "container"})
        self._events_stream = stream

        def collect() -> None:
            with contextlib.suppress(Exception):
                for event in stream:
                    name = event.get("Actor", {}).get("Attributes", {}).get("name", "")
                    replica = name.rsplit(f"{self.run_id}-", 1)[-1]
                    wall = event.get("timeNano", 0) / 1e9 or float(event.get("time", time.time()))
                    component = "app" if replica.startswith("app-") else replica
                    with self._lock:
                        self._events.append(PlatformEvent(str(event.get("Action", "")), component, replica, wall,
                                                          "by Docker"))  # fmt: skip

        threading.Thread(target=collect, name=f"docker events {self.run_id}", daemon=True).start()

    def platform_events(self) -> list[PlatformEvent]:
        """What Docker did to the run's containers; a start after a die of an app replica is its restart."""
        with self._lock:
            return list(self._events)

    # -- containers -----------------------------------------------------------
    def _name(self, name: str) -> str:
        return f"chaos-{self.run_id}-{name}"

    def _volume(self, component: str, *, fresh: bool = False) -> str:
        with self._lock:  # components may start together
            return self._volume_of(component, fresh=fresh)

    def _volume_of(self, component: str, *, fresh: bool) -> str:
        if fresh or component not in self._volumes:
            self._generation += 1
            volume = self.client.volumes.create(f"chaos-{self.run_id}-{component}-{self._generation}",
                                                labels=self.labels)  # fmt: skip
            self._volumes[component] = str(volume.name)
        return self._volumes[component]

    def _run(self, name: str, component: Component, *, ports: dict[int, int], image: str | None = None,
             env: dict[str, str] | None = None, volumes: dict[str, str] | None = None,
             restart: str = "no") -> DockerContainer:  # fmt: skip
        assert self._network is not None
        with contextlib.suppress(docker.errors.NotFound):  # one a kill left behind, under the same name
            self.client.containers.get(self._name(name)).remove(force=True)
        container = DockerContainer(image or component.image, network=self._network,
                                    network_aliases=[name]).with_name(self._name(name))  # fmt: skip
        if component.command:
            container.with_command(list(component.command))
        for inside, outside in ports.items():  # on loopback: the stores have no auth of their own to rely on
            container.ports[f"{inside}/tcp"] = (HOST, outside)  # type: ignore[assignment]
        for key, value in {**component.environment, **(env or {})}.items():
            container.with_env(key, value)
        for source, mount in (volumes or {}).items():
            container.with_volume_mapping(source, mount, "rw")
        container.with_kwargs(labels=self.labels, restart_policy={"Name": restart})
        container.start()
        self._containers[name] = container
        return container

    def _wrapped(self, name: str) -> Container:
        container = self._containers.get(name)
        if container is None:
            raise ComponentError(f"{name}: no such container in {self.description}")
        wrapped = container.get_wrapped_container()
        wrapped.reload()
        return wrapped

    def _ready(self, what: str, check: Callable[[], bool]) -> None:
        try:
            wait_for(check, what=what, timeout=self.ready_timeout, not_yet=launch.NOT_READY)
        except WaitTimeoutError as exc:
            name = what.split()[0]
            tail = self.log_tails(15).get(name, "")
            raise StartupError(f"{exc}\nLast log lines of {name}:\n{tail}") from exc

    def start_component(self, component: str, *, fresh_data: bool = False) -> None:
        """Start a stopped component (re-created on its volume); ``fresh_data`` gives MongoDB an empty one."""
        self._check(component)
        if component == "app":
            self.scale("app", self.initial_replicas)
            return
        existing = self._containers.pop(component, None)
        if existing is not None:
            with contextlib.suppress(Exception):
                existing.stop()
        spec = self._component(component)
        endpoints = self.endpoints
        ports = {spec.port: self._ports[component]}
        volumes = {self._volume(component, fresh=fresh_data and component == "mongodb"): spec.data} if spec.data else {}
        env = {"REDIS_PASSWORD": self._redis_password} if component == "redis" else {}
        if component == "toxiproxy":
            ports |= {PROXY_PORTS[link]: self._ports[f"{link}-proxy"] for link in PROXY_PORTS}
        if component == "prometheus":
            home = self._config_dir / "prometheus"
            prometheus.write_config(home / "prometheus.yml", Path("/etc/drill/targets.json"))
            self._write_scrape_targets()
            volumes[str(home)] = "/etc/drill"
        self._run(component, spec, ports=ports, env=env, volumes=volumes)
        checks: dict[str, Callable[[], bool]] = {
            "mongodb": lambda: launch.mongo_ready(endpoints.mongodb_uri),
            "redis": lambda: launch.redis_ready(endpoints.redis_url),
            "toxiproxy": lambda: launch.toxiproxy_ready(endpoints.toxiproxy_api),
            "prometheus": lambda: launch.prometheus_ready(endpoints.prometheus_api),
        }
        self._ready(f"{component} to accept connections", checks[component])
        if component == "toxiproxy":
            self._create_proxies()

    def _create_proxies(self) -> None:
        toxiproxy = ToxiproxyClient(self.endpoints.toxiproxy_api)
        try:
            for link, proxy in self.endpoints.proxies.items():
                toxiproxy.create_proxy(link, proxy["listen"], proxy["upstream"])
        finally:
            toxiproxy.close()

    def _write_scrape_targets(self) -> None:
        targets = {f"app-{index}": f"app-{index}:{self.images.app.port}" for index in range(self._apps)}
        prometheus.write_targets(self._config_dir / "prometheus" / "targets.json", targets)

    def _check(self, component: str) -> None:
        if component not in COMPONENTS:
            raise ComponentError(f"unknown component {component!r}; components: {', '.join(COMPONENTS)}")

    def scale(self, component: str, replicas: int) -> None:
        """Run ``replicas`` app replicas of the current release; wait until new ones answer HTTP."""
        if component != "app":
            raise ComponentError(f"scale {component}: only the app is replicated on this target")
        if not 0 <= replicas <= self.max_replicas:
            raise ComponentError(f"scale app to {replicas}: allowed range is 0..{self.max_replicas}")
        with self._lock:
            while len(self._app_ports) < replicas:
                self._app_ports.append(launch.free_port())
            for index in range(replicas, self._apps):
                container = self._containers.pop(f"app-{index}", None)
                if container is not None:
                    with contextlib.suppress(Exception):
                        container.stop()
            started = [index for index in range(replicas) if f"app-{index}" not in self._containers]
            self._apps = replicas
            if started:
                with ThreadPoolExecutor(len(started), thread_name_prefix=f"scale {self.run_id}") as pool:
                    list(pool.map(self._start_app, started))
            if "prometheus" in self._containers:
                self._write_scrape_targets()
        for index in started:
            url = f"http://{HOST}:{self._app_ports[index]}/health"
            self._ready(f"app-{index} to answer HTTP", functools.partial(launch.http_answers, url))

    def _start_app(self, index: int) -> None:
        """Replica ``index`` of the current release, reaching the stores through Toxiproxy; Docker restarts it."""
        auth = f":{quote(self._redis_password, safe='')}@"
        env = {"CALENDAR_MONGODB_URI": f"mongodb://toxiproxy:{PROXY_PORTS['mongodb']}/?directConnection=true",
               "CALENDAR_REDIS_URL": f"redis://{auth}toxiproxy:{PROXY_PORTS['redis']}/0",
               "CALENDAR_DATABASE": self.database, "CALENDAR_REPLICA": f"app-{index}"}  # fmt: skip
        self._run(f"app-{index}", self.images.app, image=release_image(self.client, self.images, self.release),
                  ports={self.images.app.port: self._app_ports[index]}, env=env, restart="always")  # fmt: skip

    def _pid(self, name: str) -> int | None:
        pid = int(self._wrapped(name).attrs["State"].get("Pid") or 0)
        return pid or None

    def kill(self, component: str, replica: int | None = None, sig: int = signal.SIGKILL) -> list[int]:
        """Signal a container's main process on this host, as a crash would end it; returns the pids.

        App replicas come back through their restart policy; data stores stay down until started.
        """
        self._check(component)
        names = ([f"app-{index}" for index in range(self._apps)] if replica is None else [f"app-{replica}"]
                 ) if component == "app" else [component]  # fmt: skip
        pids = []
        for name in names:
            pid = self._pid(name)
            if pid is None:
                raise ComponentError(f"kill {name}: not running")
            os.kill(pid, sig)
            pids.append(pid)
        return pids

    def kill_all(self, sig: int = signal.SIGKILL) -> dict[str, list[int]]:
        """Every container's process signalled at once; app replicas lose their restart policy first."""
        killed: dict[str, list[int]] = {}
        names = [f"app-{index}" for index in range(self._apps)]
        for name in names:
            self._wrapped(name).update(restart_policy={"Name": "no"})  # type: ignore[arg-type]  # the stub lacks "no"
        for name in [*names, *STORES]:
            if name in self._containers and (pid := self._pid(name)) is not None:
                os.kill(pid, sig)
                killed.setdefault("app" if name.startswith("app-") else name, []).append(pid)
        with self._lock:
            for name in names:
                self._containers.pop(name, None)  # removed when the app is scaled back
        return killed

    def stop(self, component: str) -> None:
        self._check(component)
        if component == "app":
            self.scale("app", 0)
            return
        self._wrapped(component).stop(timeout=STOP_TIMEOUT_S)

    def status(self) -> list[ReplicaStatus]:
        rows = []
        for name in [*STORES, *(f"app-{index}" for index in range(self._apps))]:
            if name not in self._containers:
                continue
            state = self._wrapped(name).attrs
            running = bool(state["State"].get("Running")) and not state["State"].get("Paused")
            pid = int(state["State"].get("Pid") or 0) or None
            rows.append(ReplicaStatus("app" if name.startswith("app-") else name, name, pid,
                                      running and pid is not None and pid_alive(pid),
                                      int(state.get("RestartCount", 0))))  # fmt: skip
        return rows

    def set_redis_persistence(self, mode: str) -> None:
        """Switch Redis to ``mode`` and rewrite its configuration file, so a restart keeps it."""
        launch.switch_redis_persistence(self.endpoints.redis_url, mode, rewrite=True)

    # -- capabilities -------------------------------------------------------
    def data_dir(self, component: str) -> Path:
        if component not in ("mongodb", "redis"):
            raise ComponentError(f"{component} keeps no data files")
        volume = self.client.volumes.get(self._volume(component))
        return Path(str(volume.attrs["Mountpoint"]))

    def data_files(self, component: str) -> list[Path]:
        directory = self.data_dir(component)
        return sorted(path for path in directory.rglob("*") if path.is_file() and path.stat().st_size > 0)

    @property
    def release(self) -> dict[str, str]:
        return self._releases.current

    def deploy(self, version: str, defect: str = "") -> None:
        """Roll every replica onto the image of release ``version`` (``helm upgrade``), not waiting."""
        release_image(self.client, self.images, {"version": version, "defect": defect})  # built before anything stops
        self._releases.push(version, defect)
        self._roll(wait=False)

    def rollback(self) -> str:
        """Back to the previous release's image, waiting until every replica answers."""
        self._releases.pop()
        self._roll(wait=True)
        return self.release["version"]

    def _roll(self, *, wait: bool) -> None:
        replicas = self._apps
        self.scale("app", 0)
        if wait:
            self.scale("app", replicas)
            return
        with self._lock:
            self._apps = replicas
            for index in range(replicas):
                self._start_app(index)

    def pause(self, component: str, replica: int | None = None) -> list[str]:
        names = [f"app-{replica}"] if component == "app" and replica is not None else (
            [f"app-{index}" for index in range(self._apps)] if component == "app" else [component])  # fmt: skip
        for name in names:
            self._wrapped(name).pause()
        return names

    def unpause(self, component: str, replica: int | None = None) -> None:
        names = [f"app-{replica}"] if component == "app" and replica is not None else (
            [f"app-{index}" for index in range(self._apps)] if component == "app" else [component])  # fmt: skip
        for name in names:
            if self._wrapped(name).status == "paused":
                self._wrapped(name).unpause()

    def disconnect(self, component: str) -> None:
        assert self._network is not None
        self.client.networks.get(self._network.name).disconnect(self._wrapped(component))

    def connect(self, component: str) -> None:
        assert self._network is not None
        network = self.client.networks.get(self._network.name)
        if not any(c.id == self._wrapped(component).id for c in network.containers):
            network.connect(self._wrapped(component), aliases=[component])

    def log_tails(self, lines: int = 40) -> dict[str, str]:
        tails = {}
        for name in list(self._containers):
            with contextlib.suppress(Exception):
                tails[name] = self._wrapped(name).logs(tail=lines).decode(errors="replace")
        return tails


def _removed(container: DockerContainer) -> None:
    with contextlib.suppress(Exception):
        container.stop()


def _engine() -> docker.DockerClient | None:
    """A client of the engine that answers, or None (nothing to sweep where no engine runs)."""
    if not _engine_listens():
        return None
    try:
        client = docker.from_env(timeout=10)
    except docker.errors.DockerException:
        return None
    try:
        client.ping()
    except docker.errors.DockerException:
        client.close()
        return None
    return client


def _remove_labelled(labels: list[str], wanted: Callable[[str, Mapping[str, Any]], str | None]) -> Sweep:
    """Remove the containers, networks and volumes carrying every label of ``labels`` that ``wanted`` takes.

    ``wanted(name, labels)`` is None for an object to remove, or why it stays ("" to say nothing of it).
    """
    done = Sweep()
    client = _engine()
    if client is None:
        return done
    runs: set[str] = set()  # whose files on this machine go with them
    chosen: dict[str, str | list[str] | bool] = {"label": labels}

    def take(what: str, name: str, object_labels: Mapping[str, Any], remove: Callable[[], object]) -> None:
        why = wanted(name, object_labels)
        if why is not None:
            if why:
                done.left.append(f"{what} {name}: {why}")
            return
        runs.add(str(object_labels.get(LABEL_RUN, "")))
        remove()
        done.removed.append(f"{what} {name}")

    try:
        for container in client.containers.list(all=True, filters=chosen):
            take("container", str(container.name), container.labels, functools.partial(container.remove, force=True))
        for network in client.networks.list(filters=chosen):
            take("network", str(network.name), network.attrs.get("Labels") or {}, network.remove)
        for volume in client.volumes.list(filters=chosen):
            remove = functools.partial(volume.remove, force=True)
            take("volume", str(volume.name), volume.attrs.get("Labels") or {}, remove)
    finally:
        client.close()
    for run in sorted(runs - {""}):
        config = Path(tempfile.gettempdir()) / f"{CONFIG_PREFIX}{run}"
        if RUN_ID.fullmatch(run) and config.is_dir() and config.stat().st_uid == os.getuid():
            shutil.rmtree(config, ignore_errors=True)
            done.removed.append(f"directory {config}")
    return done


def sweep_orphan_runs(owners: Owners) -> Sweep:
    """Remove the containers, networks and volumes of every run ``owners`` proves to have ended; say what stays.

    Nothing when no Docker engine answers. A run's claim goes once nothing of it is left.
    """
    judged: dict[str, str] = {}  # run id -> the verdict on its runner, the same for each of its objects

    def wanted(name: str, labels: Mapping[str, Any]) -> str | None:
        judgement = owners.judge(labels.get(LABEL_RUN), labels.get(LABEL_TOKEN), name)
        judged[str(labels.get(LABEL_RUN))] = judgement.verdict
        if judgement.verdict == "remove":
            return None
        return "" if judgement.verdict == "live" else judgement.reason  # a live run's objects are its own

    done = _remove_labelled([f"{LABEL_TOOL}={TOOL}"], wanted)
    for run, verdict in judged.items():
        if verdict == "remove":
            owners.release(run)
    return done


def remove_run(run_id: str, digest: str) -> list[str]:
    """Remove what the run ``run_id`` left, its token's digest on each (its runner named both to its guardian)."""
    labels = [f"{LABEL_TOOL}={TOOL}", f"{LABEL_RUN}={run_id}", f"{LABEL_TOKEN}={digest}"]
    return _remove_labelled(labels, lambda name, labels: None).removed
