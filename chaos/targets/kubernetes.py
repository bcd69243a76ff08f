"""The Kubernetes target: the Calendar Assistant installed by its Helm chart into a namespace of its own.

    app pods (Deployment) ──► toxiproxy (Deployment) ──► mongodb, redis (StatefulSets)
       ▲                                  prometheus (Deployment) scrapes the app pods
       └── the drill: each replica through a relay to the pod holding its slot; the stores,
           Toxiproxy and Prometheus through their NodePorts on the node's address

Each run installs the chart (`helm upgrade --install`) into ``<namespace>-<run id>``,
labelled with the tool, the run and the runner's pid and start time, and removes the
namespace at the end; `drill cleanup` removes the namespace of a runner that died.
The target acts on that namespace only.

Faults go through the API where Kubernetes has one: pods deleted (grace 0 or the
pod's own), workloads scaled or deleted, releases upgraded and rolled back with
helm. With ``node_local`` (the drill runs on the cluster's only node, as with
`scripts/k8s/cluster.sh`), a kill is a signal to the container's main process on
this host, so the kubelet restarts the container in place (its restart count goes
up), a pause freezes the container through containerd, and a store's data lives
in a hostPath directory on this host (emptied when MongoDB is to start afresh).

What Kubernetes itself did (pod created, scheduled, container started, Ready,
restarted, deleted) is watched and kept as platform events, timed when the watch
delivered them: the API's own timestamps have one-second resolution.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from chaos import guardian
from chaos.errors import ComponentError, ConfigError, StartupError, WaitTimeoutError
from chaos.ownership import LABEL_TOKEN, Owners, Sweep
from chaos.servers import launch
from chaos.servers.process import pid_alive, process_parent
from chaos.targets.base import COMPONENTS, Endpoints, PlatformEvent, Releases, ReplicaStatus, unsupported
from chaos.targets.relay import Relay
from chaos.wait import wait_for

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["CHART", "LABEL_RUN", "KubernetesTarget", "remove_run_namespace", "sweep_orphan_namespaces"]

ROOT = Path(__file__).resolve().parent.parent.parent
CHART = ROOT / "deploy" / "helm" / "calendar-assistant"
RELEASE = "calendar-assistant"
LABEL_TOOL, LABEL_RUN = "app.kubernetes.io/managed-by", "chaos-drill/run"
TOOL = "chaos-drill"
INSTANCE = f"app.kubernetes.io/instance={RELEASE}"
WORKLOADS = {"app": "Deployment", "mongodb": "StatefulSet", "redis": "StatefulSet", "toxiproxy": "Deployment",
             "prometheus": "Deployment"}  # fmt: skip
PORTS = {"mongodb": "mongodb", "redis": "redis", "toxiproxy": "api", "mongodb-proxy": "mongodb",
         "redis-proxy": "redis", "prometheus": "http"}  # fmt: skip
APP_PORT = 8080
HOST_PATH_ROOT = Path("/var/lib/chaos-drill/volumes")
LOCAL_CACHE_BIN = Path(os.environ.get("CHAOS_K8S_CACHE", "/var/cache/chaos-drill/k8s-v1.37.2")) / "bin"
LOCAL_CONTAINERD = (
    Path(os.environ.get("CHAOS_K8S_STATE", "/var/lib/chaos-drill/k8s")) / "containerd" / "containerd.sock"
)


def _tool(name: str) -> str:
    """``name`` (helm, ctr) from PATH, or from the local cluster's build cache."""
    found = shutil.which(name) or (str(LOCAL_CACHE_BIN / name) if (LOCAL_CACHE_BIN / name).exists() else None)
    if found is None:
        raise StartupError(f"{name} is not on PATH (nor in {LOCAL_CACHE_BIN}); install it, or build the local "
                           "cluster's tools with scripts/k8s/build.sh")  # fmt: skip
    return found


@dataclass
class _Pod:
    """What the watch last said about one pod of the release."""

    name: str
    uid: str
    component: str
    ip: str = ""
    node: str = ""
    container_id: str = ""
    running: bool = False
    ready: bool = False
    deleting: bool = False
    restarts: int = 0


def _pod_state(pod: Any) -> _Pod:
    labels = pod.metadata.labels or {}
    statuses = pod.status.container_statuses or []
    first = statuses[0] if statuses else None
    conditions = {c.type: c.status == "True" for c in (pod.status.conditions or [])}
    return _Pod(
        name=pod.metadata.name, uid=pod.metadata.uid, component=labels.get("app.kubernetes.io/component", ""),
        ip=pod.status.pod_ip or "", node=pod.spec.node_name or "",
        container_id=(first.container_id or "").split("://")[-1] if first else "",
        running=bool(first and first.state and first.state.running), ready=conditions.get("Ready", False),
        deleting=pod.metadata.deletion_timestamp is not None, restarts=int(first.restart_count) if first else 0,
    )  # fmt: skip


def _clean_manifest(obj: dict[str, Any]) -> dict[str, Any]:
    """An object as read from the API, made fit to create again: no status, uid, version or cluster IP
    (a Service keeps its node ports, so the drill reaches it where it did; a headless one stays headless)."""
    metadata = obj.get("metadata", {})
    keep = {key: metadata[key] for key in ("name", "labels", "annotations") if key in metadata}
    clean = {**{key: value for key, value in obj.items() if key not in ("status", "metadata")}, "metadata": keep}
    if obj.get("kind") == "Service":
        spec = dict(clean["spec"])
        if spec.get("clusterIP") != "None":  # a headless Service stays headless; another gets a new address
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
        if spec.get("type") != "NodePort":
            spec["ports"] = [{k: v for k, v in port.items() if k != "nodePort"} for port in spec.get("ports", [])]
        clean["spec"] = spec
    return clean


KINDS = ("Secret", "ConfigMap", "Service", "StatefulSet", "Deployment")  # in the order they are created again
NOT_OURS = {"kube-root-ca.crt"}  # made by Kubernetes in every namespace


class KubernetesTarget:
    """Install, break and repair the Calendar Assistant on a Kubernetes cluster, in a namespace of its own."""

    kind = "kubernetes"
    # Not "data-files": a stopped store's pod is started again by its StatefulSet, so the files of a stopped
    # server are never there to corrupt. Not "network-disconnect": the pod network has no switch to pull.
    capabilities = frozenset({"releases", "log-tails", "pods", "pause", "resources"})

    def __init__(
        self,
        *,
        context: str,
        namespace: str,
        kubeconfig: Path | None = None,
        replicas: int = 3,
        database: str = "calendar",
        max_replicas: int = 16,
        ready_timeout: float = 120.0,
        node_local: bool = False,
        node_address: str = "",
        redis_password: str | None = None,
        owners: Owners | None = None,
    ) -> None:
        self.context, self.kubeconfig = context, kubeconfig
        self.initial_replicas, self.database, self.max_replicas = replicas, database, max_replicas
        self.ready_timeout, self.node_local, self._node_address = ready_timeout, node_local, node_address
        self.run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        self.namespace = f"{namespace}-{self.run_id}"[:63]
        self.description = f"Kubernetes namespace {self.namespace} (context {context})"
        if not node_local:
            self.capabilities = frozenset(self.capabilities - {"pause"})
        self._owners = owners or Owners()
        self.labels = {LABEL_TOOL: TOOL, LABEL_RUN: self.run_id}  # and the token's digest, once claimed
        # Redis never runs without a password: the configured one, else one for this run only.
        self._redis_password = redis_password or secrets.token_hex(16)
        self._api: Any = None
        self._core: Any = None
        self._apps_api: Any = None
        self._node_ports: dict[str, int] = {}
        self._pods: dict[str, _Pod] = {}  # name -> state, pods of the release that exist now
        self._slots: list[str | None] = []  # app replica index -> the pod holding it
        self._held: dict[str, int] = {}  # app pod -> the replica index it held last
        self._relays: list[Relay] = []
        self._apps = 0
        self._installed: list[dict[str, Any]] = []  # the namespace's objects as installed
        self._releases = Releases()
        self._events: list[PlatformEvent] = []
        self._watch: Any = None
        self._stopping = threading.Event()
        self._lock = threading.RLock()

    # -- endpoints ----------------------------------------------------------
    @property
    def endpoints(self) -> Endpoints:
        node, ports = self._node_address, self._node_ports
        auth = f":{quote(self._redis_password, safe='')}@"
        return Endpoints(
            apps=tuple(relay.url for relay in self._relays[: self._apps]),
            database=self.database,
            mongodb_uri=f"mongodb://{node}:{ports.get('mongodb', 0)}/?directConnection=true",
            mongodb_proxy_uri=f"mongodb://{node}:{ports.get('mongodb-proxy', 0)}/?directConnection=true",
            redis_url=f"redis://{auth}{node}:{ports.get('redis', 0)}/0",
            redis_proxy_url=f"redis://{auth}{node}:{ports.get('redis-proxy', 0)}/0",
            toxiproxy_api=f"http://{node}:{ports.get('toxiproxy', 0)}",
            prometheus_api=f"http://{node}:{ports['prometheus']}" if "prometheus" in ports else "",
            proxies={link: {"listen": f"0.0.0.0:{port}", "upstream": f"{RELEASE}-{link}:{store_port}",
                            "reach": f"{node}:{ports.get(f'{link}-proxy', 0)}"}
                     for link, port, store_port in (("mongodb", 27018, 27017), ("redis", 6380, 6379))},
            scrape_targets=self._scrape_targets(),
            service=f"http://{node}:{ports['app']}" if "app" in ports else "",
        )  # fmt: skip

    def _scrape_targets(self) -> tuple[str, ...]:
        """Each replica as Prometheus knows it (pod IP and port, found through the headless Service)."""
        with self._lock:
            pods = [self._pods.get(name) for name in self._slots[: self._apps] if name is not None]
        return tuple(f"{pod.ip}:{APP_PORT}" for pod in pods if pod is not None and pod.ip)

    def locator(self) -> dict[str, str]:
        return {"kind": "kubernetes", "context": self.context, "namespace": self.namespace, "run": self.run_id}

    # -- lifecycle ----------------------------------------------------------
    def _connect(self) -> None:
        from kubernetes import client, config  # imported here: only this target needs the client

        path = self.kubeconfig or Path(os.environ.get("KUBECONFIG", str(Path.home() / ".kube" / "config")))
        if not path.is_file():
            raise StartupError(f"kubeconfig {path}: no such file; start a cluster (`make cluster-up`) or set "
                               "kubeconfig in the targets file")  # fmt: skip
        contexts, _ = config.list_kube_config_contexts(config_file=str(path))  # type: ignore[no-untyped-call]
        if self.context not in {entry["name"] for entry in contexts}:
            names = ", ".join(sorted(entry["name"] for entry in contexts))
            raise ConfigError(f"kubeconfig {path}: no context {self.context!r}; contexts there: {names}")
        self.kubeconfig = path
        self._api = config.new_client_from_config(config_file=str(path), context=self.context)  # type: ignore[no-untyped-call]
        self._core, self._apps_api = client.CoreV1Api(self._api), client.AppsV1Api(self._api)
        try:
            nodes = self._core.list_node(_request_timeout=10).items
        except Exception as exc:
            raise StartupError(f"the API server of context {self.context} does not answer: {exc}") from None
        if not self._node_address:
            addresses = [a.address for node in nodes for a in (node.status.addresses or []) if a.type == "InternalIP"]
            if not addresses:
                raise StartupError(f"context {self.context}: no node reports an InternalIP to reach NodePorts on")
            self._node_address = addresses[0]

    def _helm(self, *args: str, timeout: float = 180) -> str:
        command = [_tool("helm"), "--kubeconfig", str(self.kubeconfig), "--kube-context", self.context,
                   "--namespace", self.namespace, *args]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise ComponentError(f"helm {args[0]} in {self.namespace} failed: {done.stderr.strip()[-2000:]}")
        return done.stdout

    def _values(self) -> list[str]:
        # The drill reaches the app, the stores and Toxiproxy's API from outside the cluster, through node ports:
        # the chart's Services are ClusterIP unless asked.
        values = ["--set", f"app.replicas={self.initial_replicas}", "--set", f"app.database={self.database}",
                  "--set", "exposure.nodePort=true", "--set", f"redis.passwordSecret={RELEASE}-redis"]  # fmt: skip
        if self.node_local:
            values += ["--set", "persistence.type=hostPath", "--set", f"persistence.hostPathRoot={HOST_PATH_ROOT}"]
        return values

    def start(self) -> None:
        from kubernetes import client

        self._connect()
        claim = self._owners.claim(self.run_id, self.kind, self.namespace)  # before the namespace is made
        self.labels[LABEL_TOKEN] = claim.digest
        guardian.watch("kubernetes", namespace=self.namespace, run=self.run_id,
                       owners=str(self._owners.directory.resolve()), kubeconfig=str(self.kubeconfig),
                       context=self.context)  # fmt: skip
        try:
            self._core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
                name=self.namespace, labels=self.labels)))  # fmt: skip
            self._core.create_namespaced_secret(self.namespace, client.V1Secret(
                metadata=client.V1ObjectMeta(name=f"{RELEASE}-redis", labels=self.labels),
                string_data={"password": self._redis_password}))  # fmt: skip
            self._start_watch()
            self._apps = self.initial_replicas
            self._grow_slots(self.initial_replicas)
            self._helm("upgrade", "--install", RELEASE, str(CHART), *self._values())
            for service in self._core.list_namespaced_service(self.namespace, label_selector=INSTANCE).items:
                component = service.metadata.labels.get("app.kubernetes.io/component", "")
                for port in service.spec.ports or []:
                    if port.node_port:
                        key = f"{port.name}-proxy" if component == "toxiproxy" and port.name != "api" else (
                            component)  # fmt: skip
                        self._node_ports[key] = int(port.node_port)
            for component in ("mongodb", "redis", "toxiproxy", "prometheus"):
                self._await_component(component)
            self._await_apps(self.initial_replicas)
            self._installed = self.resources()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Remove the namespace (every object of the run) and its data on the node. Safe to call more than once."""
        self._stopping.set()
        if self._watch is not None:
            with contextlib.suppress(Exception):
                self._watch.stop()
        for relay in self._relays:
            relay.close()
        self._relays.clear()
        with self._lock:
            pods = {pod.uid for pod in self._pods.values()}
        if self._core is not None:
            with contextlib.suppress(Exception):
                self._core.delete_namespace(self.namespace, grace_period_seconds=0, propagation_policy="Background")
                self._owners.release(self.run_id)  # the namespace goes, and everything in it with it
            with contextlib.suppress(Exception):
                self._delete_pods_now()
        if self.node_local:
            # The namespace controller removes the rest on its own (seconds of it, which the run need not wait
            # for); the data on the node goes once nothing of its pods runs here any more.
            with contextlib.suppress(WaitTimeoutError):
                wait_for(lambda: not _running_on_this_node(pods), what=f"the pods of {self.namespace} to stop",
                         timeout=30, interval=0.2)  # fmt: skip
            shutil.rmtree(HOST_PATH_ROOT / self.namespace, ignore_errors=True)
            with contextlib.suppress(OSError):
                HOST_PATH_ROOT.rmdir()  # the kubelet made it for the first hostPath volume; gone when empty
        if self._api is not None:
            with contextlib.suppress(Exception):
                self._api.close()
            self._api = None

    def _await_namespace_gone(self) -> None:
        """The namespace removed, pods first: a namespace of the same name can then be made again."""
        from kubernetes.client.exceptions import ApiException

        def gone() -> bool:
            try:
                self._core.read_namespace(self.namespace, _request_timeout=5)
            except ApiException as exc:
                return bool(exc.status == 404)
            return False

        self._delete_pods_now()
        wait_for(gone, what=f"namespace {self.namespace} to be removed", timeout=120)

    def _delete_pods_now(self) -> None:
        """Every pod of the namespace deleted with no grace, not left to the namespace controller's turn."""
        from kubernetes.client.exceptions import ApiException

        for pod in self._core.list_namespaced_pod(self.namespace).items:
            with contextlib.suppress(ApiException):
                self._core.delete_namespaced_pod(pod.metadata.name, self.namespace, grace_period_seconds=0)

    # -- the watch: pods, slots, platform events ------------------------------
    def _start_watch(self) -> None:
        from kubernetes import watch

        self._watch = watch.Watch()  # type: ignore[no-untyped-call]

        def run() -> None:
            version = None
            while not self._stopping.is_set():
                try:
                    for event in self._watch.stream(self._core.list_namespaced_pod, self.namespace,
                                                    label_selector=INSTANCE, resource_version=version,
                                                    timeout_seconds=60):  # fmt: skip
                        version = event["object"].metadata.resource_version
                        self._on_pod(event["type"], event["object"], time.time())
                except Exception:
                    version = None
                    if not self._stopping.wait(0.2):
                        continue

        threading.Thread(target=run, name=f"pod watch {self.namespace}", daemon=True).start()

    def _replica(self, pod: _Pod) -> str:
        if pod.component != "app":
            return pod.component
        with self._lock:
            if pod.name in self._slots:
                return f"app-{self._slots.index(pod.name)}"
            held = self._held.get(pod.name)  # a pod gone or going: the replica it held
            return f"app-{held}" if held is not None else pod.name

    def _on_pod(self, kind: str, obj: Any, wall: float) -> None:
        new = _pod_state(obj)
        with self._lock:
            old = self._pods.get(new.name)
            if old is not None and old.uid != new.uid:
                old = None
            happened: list[tuple[str, str]] = []
            if old is None and kind != "DELETED":
                happened.append(("created", f"pod {new.name}"))
            if new.node and (old is None or not old.node):
                happened.append(("scheduled", f"pod {new.name} on {new.node}"))
            if new.running and new.container_id and (old is None or old.container_id != new.container_id):
                restarted = old is not None and bool(old.container_id)
                happened.append(
                    (
                        "restarted" if restarted else "started",
                        f"pod {new.name}, container {new.container_id[:12]}, restarts {new.restarts}",
                    )
                )
            if new.ready and (old is None or not old.ready):
                happened.append(("ready", f"pod {new.name} Ready (watch event)"))
            if new.deleting and (old is None or not old.deleting):
                grace = obj.metadata.deletion_grace_period_seconds
                happened.append(("deleted", f"pod {new.name}, grace {grace}s"))
            if kind == "DELETED":
                happened.append(("gone", f"pod {new.name} removed from the API"))
                self._pods.pop(new.name, None)
            else:
                self._pods[new.name] = new
            if new.component == "app":
                self._assign_slots()
            for name, detail in happened:
                self._events.append(PlatformEvent(name, new.component, self._replica(new), wall, detail))

    def _assign_slots(self) -> None:
        """Free the slots of pods deleted or going; give free slots to app pods without one, oldest first."""
        for index, name in enumerate(self._slots):
            pod = self._pods.get(name) if name is not None else None
            if name is not None and (pod is None or pod.deleting or index >= self._apps):
                self._slots[index] = None
                self._relays[index].cut()
        waiting = [pod.name for pod in self._pods.values()
                   if pod.component == "app" and not pod.deleting and pod.name not in self._slots]  # fmt: skip
        for index in range(min(self._apps, len(self._slots))):
            if self._slots[index] is None and waiting:
                name = waiting.pop(0)
                self._slots[index] = name
                self._held[name] = index

    def _slot_address(self, index: int) -> tuple[str, int] | None:
        with self._lock:
            name = self._slots[index] if index < len(self._slots) else None
            pod = self._pods.get(name) if name is not None else None
            return (pod.ip, APP_PORT) if pod is not None and pod.ip else None

    def _grow_slots(self, replicas: int) -> None:
        with self._lock:
            while len(self._relays) < replicas:
                self._relays.append(Relay(functools.partial(self._slot_address, len(self._relays))))
                self._slots.append(None)

    def platform_events(self) -> list[PlatformEvent]:
        """What Kubernetes did to the release's pods, in the order the watch saw it."""
        with self._lock:
            return list(self._events)

    # -- workloads ------------------------------------------------------------
    def _check(self, component: str) -> None:
        if component not in COMPONENTS:
            raise ComponentError(f"unknown component {component!r}; components: {', '.join(COMPONENTS)}")

    def _workload_name(self, component: str) -> str:
        return f"{RELEASE}-{component}"

    def resources(self) -> list[dict[str, Any]]:
        """The namespace's objects, as `kubectl get all,secrets -o yaml` shows them, made fit to create again."""
        listings: list[tuple[str, str, Callable[..., Any]]] = [
            ("v1", "Secret", self._core.list_namespaced_secret),
            ("v1", "ConfigMap", self._core.list_namespaced_config_map),
            ("v1", "Service", self._core.list_namespaced_service),
            ("apps/v1", "StatefulSet", self._apps_api.list_namespaced_stateful_set),
            ("apps/v1", "Deployment", self._apps_api.list_namespaced_deployment),
        ]
        objects = []
        for version, kind, listing in listings:
            for item in listing(self.namespace).items:
                if item.metadata.name in NOT_OURS:
                    continue
                data: dict[str, Any] = self._api.sanitize_for_serialization(item)
                objects.append(_clean_manifest({**data, "apiVersion": version, "kind": kind}))
        return objects

    def restore_resources(self, objects: list[dict[str, Any]]) -> str:
        """`kubectl apply` of a configuration backup: the namespace, and each of its objects that is missing,
        created again; returns when each store created again answers. The app's Deployment comes back with
        no replica: the plan deploys the app last."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        create: dict[str, Callable[..., Any]] = {
            "Secret": self._core.create_namespaced_secret,
            "ConfigMap": self._core.create_namespaced_config_map,
            "Service": self._core.create_namespaced_service,
            "StatefulSet": self._apps_api.create_namespaced_stateful_set,
            "Deployment": self._apps_api.create_namespaced_deployment,
        }
        unknown = sorted({str(obj.get("kind")) for obj in objects} - set(create))
        if unknown:
            raise ComponentError(f"restore resources: kinds {unknown} are not restored; the backup is not ours")
        created = []
        try:
            self._core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
                name=self.namespace, labels=self.labels)))  # fmt: skip
            created.append(f"Namespace/{self.namespace}")
        except ApiException as exc:
            if exc.status != 409:
                raise
        for obj in sorted(objects, key=lambda o: KINDS.index(o["kind"])):
            body = copy.deepcopy(obj)
            if obj["kind"] == "Deployment" and obj["metadata"]["name"] == self._workload_name("app"):
                body["spec"]["replicas"] = 0
            try:
                create[obj["kind"]](self.namespace, body)
                created.append(f"{obj['kind']}/{obj['metadata']['name']}")
            except ApiException as exc:
                if exc.status != 409:  # one there already is left as it is
                    raise
        for component, kind in WORKLOADS.items():  # `kubectl rollout status` of each store created again
            if component != "app" and f"{kind}/{self._workload_name(component)}" in created:
                self._await_component(component)
        return f"created {len(created)} objects: {', '.join(created)}" if created else "every object was there"

    def _exists(self, component: str) -> bool:
        from kubernetes.client.exceptions import ApiException

        kind = WORKLOADS[component]
        read = (self._apps_api.read_namespaced_deployment if kind == "Deployment"
                else self._apps_api.read_namespaced_stateful_set)  # fmt: skip
        try:
            read(self._workload_name(component), self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def _set_replicas(self, component: str, replicas: int) -> None:
        """Scale a workload; one that was deleted is created again from its manifest as installed."""
        kind = WORKLOADS[component]
        body = {"spec": {"replicas": replicas}}
        if not self._exists(component):
            if replicas == 0:
                return
            self.restore_resources(self._installed)  # what is missing, as installed
        patch = (self._apps_api.patch_namespaced_deployment_scale if kind == "Deployment"
                 else self._apps_api.patch_namespaced_stateful_set_scale)  # fmt: skip
        patch(self._workload_name(component), self.namespace, body)

    def _component_pods(self, component: str) -> list[_Pod]:
        with self._lock:
            return [pod for pod in self._pods.values() if pod.component == component]

    def _ready(self, what: str, check: Callable[[], bool], timeout: float | None = None) -> None:
        try:
            wait_for(check, what=what, timeout=timeout or self.ready_timeout, not_yet=launch.NOT_READY)
        except WaitTimeoutError as exc:
            raise StartupError(f"{exc}\n{self._describe_pods()}") from exc

    def _describe_pods(self) -> str:
        with self._lock:
            pods = list(self._pods.values())
        return "Pods now: " + ("; ".join(f"{p.name} ready={p.ready} running={p.running} restarts={p.restarts}"
                                         f"{' deleting' if p.deleting else ''}" for p in pods) or "none")  # fmt: skip

    def _await_component(self, component: str) -> None:
        endpoints = self.endpoints
        checks: dict[str, Callable[[], bool]] = {
            "mongodb": lambda: launch.mongo_ready(endpoints.mongodb_uri),
            "redis": lambda: launch.redis_ready(endpoints.redis_url),
            "toxiproxy": lambda: launch.toxiproxy_ready(endpoints.toxiproxy_api),
            "prometheus": lambda: launch.prometheus_ready(endpoints.prometheus_api),
        }

        def ready() -> bool:
            return (
                any(pod.ready and not pod.deleting for pod in self._component_pods(component)) and checks[component]()
            )

        self._ready(f"{component} to be Ready and answer on its NodePort", ready)

    def _await_apps(self, replicas: int) -> None:
        def settled() -> bool:
            if replicas == 0:
                return not self._component_pods("app")
            urls = [relay.url for relay in self._relays[:replicas]]
            return all(httpx.get(f"{url}/health", timeout=2).status_code == 200 for url in urls)

        self._ready(f"{replicas} app replicas to answer HTTP", settled)

    def start_component(self, component: str, *, fresh_data: bool = False) -> None:
        """Bring a component back (its workload created again if it was deleted); ``fresh_data``: MongoDB
        starts on an empty data directory."""
        self._check(component)
        if component == "app":
            self.scale("app", self.initial_replicas)
            return
        if fresh_data and component == "mongodb":
            self._set_replicas(component, 0)
            self._ready("MongoDB's pod to go", lambda: not self._component_pods("mongodb"))
            self._wipe("mongodb")
        self._set_replicas(component, 1)
        self._await_component(component)

    def _wipe(self, component: str) -> None:
        """Empty a store's data: its hostPath directory on this node, or its claim."""
        if self.node_local:
            shutil.rmtree(self.data_dir(component), ignore_errors=True)
            return
        with contextlib.suppress(Exception):
            self._core.delete_namespaced_persistent_volume_claim(f"data-{RELEASE}-{component}-0", self.namespace)

    def stop(self, component: str) -> None:
        self._check(component)
        if component == "app":
            self.scale("app", 0)
            return
        self._set_replicas(component, 0)
        self._ready(f"{component}'s pod to go", lambda: not self._component_pods(component))

    def scale(self, component: str, replicas: int) -> None:
        """Run ``replicas`` app pods; wait until every replica answers HTTP through its relay."""
        if component != "app":
            raise ComponentError(f"scale {component}: only the app is replicated on this target")
        if not 0 <= replicas <= self.max_replicas:
            raise ComponentError(f"scale app to {replicas}: allowed range is 0..{self.max_replicas}")
        self._grow_slots(replicas)
        with self._lock:
            self._apps = replicas
            self._assign_slots()
        self._set_replicas("app", replicas)
        self._await_apps(replicas)

    def kill_all(self, sig: int = signal.SIGKILL) -> dict[str, list[int]]:
        """The whole namespace deleted, its pods with no grace: nothing comes back on its own, and only a
        configuration backup (or the drill's copy of what it installed) builds it again.

        Returns the main process of each container, on this node, where known.
        """
        killed: dict[str, list[int]] = {}
        for row in self.status():
            killed.setdefault(row.component, []).extend([row.pid] if row.pid else [])
        self._core.delete_namespace(self.namespace, grace_period_seconds=0, propagation_policy="Background")
        self._await_namespace_gone()
        return killed

    def delete_pods(self, component: str, replica: int | None = None, *, grace: int | None = 0) -> list[str]:
        """Delete a component's pods (one replica's, or all) through the API; returns their uids."""
        self._check(component)
        with self._lock:
            if component == "app":
                names = [self._slots[replica]] if replica is not None else list(self._slots[: self._apps])
                pods = [self._pods[name] for name in names if name is not None and name in self._pods]
            else:
                pods = [pod for pod in self._pods.values() if pod.component == component and not pod.deleting]
        if not pods:
            raise ComponentError(f"delete {component} pods: none runs")
        for pod in pods:
            self._core.delete_namespaced_pod(pod.name, self.namespace, grace_period_seconds=grace)
        return [pod.uid for pod in pods]

    def pods_present(self) -> set[str]:
        """The uid of every pod of the release the API still has, those being deleted among them."""
        with self._lock:
            return {pod.uid for pod in self._pods.values()}

    def pod_uids(self, component: str) -> dict[str, str]:
        """The uid of each pod of ``component`` that exists and is not being deleted, by replica."""
        return {self._replica(pod): pod.uid for pod in self._component_pods(component) if not pod.deleting}

    def _pid(self, pod: _Pod) -> int | None:
        """The container's main process on this node: the process in its cgroup whose parent is not."""
        if not self.node_local or not pod.container_id or not pod.running:
            return None
        members = set()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if pod.container_id in (entry / "cgroup").read_text():
                        members.add(int(entry.name))
        for pid in sorted(members):
            parent = process_parent(pid)
            if parent is not None and parent not in members:
                return pid
        return None

    def _rows(self, component: str) -> Iterator[tuple[str, _Pod]]:
        with self._lock:
            if component == "app":
                for index, name in enumerate(self._slots[: self._apps]):
                    if name is not None and name in self._pods:
                        yield f"app-{index}", self._pods[name]
                return
            for pod in self._pods.values():
                if pod.component == component and not pod.deleting:
                    yield component, pod

    def status(self) -> list[ReplicaStatus]:
        """A row per pod; a store with no pod (scaled to zero, or its workload deleted) is a row not running."""
        rows = []
        for component in ("mongodb", "redis", "toxiproxy", "prometheus", "app"):
            pods = list(self._rows(component))
            if not pods and component != "app":
                rows.append(ReplicaStatus(component, component, None, False))
            for name, pod in pods:
                pid = self._pid(pod)
                alive = pod.running and (pid is None or pid_alive(pid)) if self.node_local else pod.running
                rows.append(ReplicaStatus(component, name, pid, alive and (pid is not None or not self.node_local),
                                          pod.restarts))  # fmt: skip
        return rows

    def kill(self, component: str, replica: int | None = None, sig: int = signal.SIGKILL) -> list[int]:
        """Signal a container's main process on this node, as a crash ends it: the kubelet restarts it in place."""
        self._check(component)
        if not self.node_local:
            raise ComponentError(f"kill {component}: a signal to a container's process needs the drill on the "
                                 "cluster's node (node_local: true); delete pods instead")  # fmt: skip
        rows = [row for row in self.status() if row.component == component]
        if component == "app" and replica is not None:
            rows = [row for row in rows if row.name == f"app-{replica}"]
        pids = []
        for row in rows:
            if row.pid is None:
                raise ComponentError(f"kill {row.name}: not running")
            os.kill(row.pid, sig)
            pids.append(row.pid)
        if not pids:
            raise ComponentError(f"kill {component}{'' if replica is None else f' replica {replica}'}: not running")
        return pids

    def set_redis_persistence(self, mode: str) -> None:
        """Switch Redis to ``mode`` and rewrite its configuration file (on its volume), so a restart keeps it."""
        launch.switch_redis_persistence(self.endpoints.redis_url, mode, rewrite=True)

    # -- capabilities -------------------------------------------------------
    def data_dir(self, component: str) -> Path:
        """Where a store keeps its data: its hostPath directory on this node (a restore writes Redis's there).

        Its files are not offered for corruption (``data_files``): the StatefulSet restarts a stopped store."""
        if not self.node_local:
            unsupported(self, "data-files")
        if component not in ("mongodb", "redis"):
            raise ComponentError(f"{component} keeps no data files")
        return HOST_PATH_ROOT / self.namespace / f"{RELEASE}-{component}"

    def data_files(self, component: str) -> list[Path]:
        unsupported(self, "data-files")

    @property
    def release(self) -> dict[str, str]:
        return self._releases.current

    def deploy(self, version: str, defect: str = "") -> None:
        """`helm upgrade` to release ``version``, not waiting. Pushed with the Recreate strategy, so the
        defect reaches every replica, as a release that passed its rollout and failed later would."""
        self._helm("upgrade", RELEASE, str(CHART), "--reuse-values", "--set", f"app.version={version}",
                   "--set-string", f"app.defect={defect}", "--set", "app.strategy=Recreate",
                   "--set", f"app.replicas={self._apps}")  # fmt: skip
        self._releases.push(version, defect)

    def rollback(self) -> str:
        """`helm rollback` to the previous revision, then wait until every replica answers."""
        self._releases.require_previous()
        self._helm("rollback", RELEASE)
        self._releases.pop()
        self._set_replicas("app", self._apps)
        self._await_apps(self._apps)
        return self.release["version"]

    def _containerd(self, action: str, pod: _Pod) -> None:
        command = [_tool("ctr"), "--address", str(LOCAL_CONTAINERD), "--namespace", "k8s.io", "tasks", action,
                   pod.container_id]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
        if done.returncode != 0:
            raise ComponentError(f"{action} {pod.name}: ctr failed: {done.stderr.strip()}")

    def pause(self, component: str, replica: int | None = None) -> list[str]:
        """Freeze a component's containers through containerd (the cgroup freezer), on this node."""
        if not self.node_local:
            unsupported(self, "pause")
        rows = [(name, pod) for name, pod in self._rows(component) if replica is None or name == f"app-{replica}"]
        for _, pod in rows:
            self._containerd("pause", pod)
        return [name for name, _ in rows]

    def unpause(self, component: str, replica: int | None = None) -> None:
        if not self.node_local:
            unsupported(self, "pause")
        for name, pod in list(self._rows(component)):
            if replica is None or name == f"app-{replica}":
                with contextlib.suppress(ComponentError):  # one not paused
                    self._containerd("resume", pod)

    def disconnect(self, component: str) -> None:
        unsupported(self, "network-disconnect")

    def connect(self, component: str) -> None:
        unsupported(self, "network-disconnect")

    def log_tails(self, lines: int = 40) -> dict[str, str]:
        """The log tail of every pod of the release, and the namespace's events, oldest first."""
        tails = {}
        with self._lock:
            pods = list(self._pods.values())
        for pod in pods:
            with contextlib.suppress(Exception):
                tails[pod.name] = self._core.read_namespaced_pod_log(pod.name, self.namespace, tail_lines=lines,
                                                                     _request_timeout=10)  # fmt: skip
        with contextlib.suppress(Exception):
            events = sorted(self._core.list_namespaced_event(self.namespace).items,
                            key=lambda e: str(e.last_timestamp or e.event_time or ""))  # fmt: skip
            tails["kubernetes-events"] = "\n".join(
                f"{e.last_timestamp or e.event_time} {e.type} {e.reason} {e.involved_object.kind}/"
                f"{e.involved_object.name}: {e.message}" for e in events[-200:])  # fmt: skip
        return tails


def _running_on_this_node(pods: set[str]) -> bool:
    """Whether any process here runs in a container of one of ``pods`` (their uids: the kubelet's cgroups
    are named after them)."""
    marks = [f"/pod{uid}/" for uid in pods]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                cgroups = (entry / "cgroup").read_text()
                if any(mark in cgroups for mark in marks):
                    return True
    return False


def _cluster_api(kubeconfig: Path | None, context: str | None) -> Any:
    """An API client of the cluster, or None when its kubeconfig is missing or unreadable."""
    try:
        from kubernetes import config

        path = kubeconfig or Path(os.environ.get("KUBECONFIG", str(Path.home() / ".kube" / "config")))
        if not path.is_file():
            return None
        return config.new_client_from_config(config_file=str(path), context=context)  # type: ignore[no-untyped-call]
    except Exception:
        return None


def _delete_run_namespace(core: Any, name: str) -> None:
    core.delete_namespace(name, grace_period_seconds=0)
    shutil.rmtree(HOST_PATH_ROOT / name, ignore_errors=True)


def sweep_orphan_namespaces(kubeconfig: Path | None, context: str | None, owners: Owners, *, within: str) -> Sweep:
    """Delete the namespace named ``within...`` of every run ``owners`` proves to have ended; say which stay, why.

    Namespaces outside ``within`` are another target's business, and not looked at.
    """
    from kubernetes import client

    done = Sweep()
    api = _cluster_api(kubeconfig, context)
    if api is None:
        return done
    try:
        core = client.CoreV1Api(api)
        for namespace in core.list_namespace(label_selector=f"{LABEL_TOOL}={TOOL}", _request_timeout=10).items:
            metadata: Any = namespace.metadata
            labels, name = metadata.labels or {}, str(metadata.name)
            if not name.startswith(within):
                continue
            judgement = owners.judge(labels.get(LABEL_RUN), labels.get(LABEL_TOKEN), name)
            if judgement.verdict == "remove":
                _delete_run_namespace(core, name)
                owners.release(str(labels[LABEL_RUN]))
                done.removed.append(f"namespace {name}")
            elif judgement.verdict == "foreign":
                done.left.append(f"namespace {name}: {judgement.reason}")
    except Exception as exc:
        done.left.append(f"the namespaces of context {context}: could not be listed or removed ({type(exc).__name__})")
    finally:
        api.close()
    return done


def remove_run_namespace(namespace: str, kubeconfig: Path | None, context: str | None) -> list[str]:
    """Delete the namespace a run made (its runner named it to its guardian), if it is still there."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    api = _cluster_api(kubeconfig, context)
    if api is None:
        return []
    try:
        core = client.CoreV1Api(api)
        try:
            found: Any = core.read_namespace(namespace, _request_timeout=10)
        except ApiException as exc:
            if exc.status == 404:
                return []
            raise
        if found.metadata.deletion_timestamp is not None:
            return []  # already going
        _delete_run_namespace(core, namespace)
        return [f"namespace {namespace}"]
    finally:
        api.close()
