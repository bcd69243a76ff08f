"""The Kubernetes target's pure logic: its targets-file keys, the relay that keeps a replica's address while
its pod changes, and how watch events become replica slots and platform events (no API server here: the
pods are the client's own model objects, as the watch delivers them)."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
from kubernetes.client import (
    V1ContainerState,
    V1ContainerStateRunning,
    V1ContainerStatus,
    V1ObjectMeta,
    V1Pod,
    V1PodCondition,
    V1PodSpec,
    V1PodStatus,
)

from chaos.errors import ConfigError
from chaos.targets.config import load_target
from chaos.targets.kubernetes import KubernetesTarget
from chaos.targets.relay import Relay

TARGET = """targets:
  k:
    kind: {kind}
    drill_allowed: true
    replicas: 3
    blast_radius: {{max_replicas: 1}}
{extra}"""


def _load(tmp_path: Path, extra: str, kind: str = "kubernetes") -> object:
    path = tmp_path / "targets.yaml"
    path.write_text(TARGET.format(kind=kind, extra=extra))
    return load_target(path, "k")


def test_a_kubernetes_target_reads_its_cluster_context_and_namespace(tmp_path: Path) -> None:
    config = _load(tmp_path, "    context: ctx\n    namespace: drills\n    kubeconfig: ~/kc\n    node_local: true\n")
    settings = config.kubernetes  # type: ignore[attr-defined]
    assert (settings.context, settings.namespace, settings.node_local) == ("ctx", "drills", True)
    assert settings.kubeconfig == Path("~/kc").expanduser()


@pytest.mark.parametrize(
    ("extra", "kind", "message"),
    [
        ("    namespace: drills\n", "kubernetes", "targets.k: missing key 'context'"),
        ("    context: ctx\n", "kubernetes", "targets.k: missing key 'namespace'"),
        ("    context: ctx\n    namespace: Drills_1\n", "kubernetes", "targets.k.namespace: 'Drills_1' must be"),
        ("    context: ctx\n    namespace: d\n    node_local: yes please\n", "kubernetes",
         "targets.k.node_local: expected bool"),
        ("    context: ctx\n", "docker", "targets.k.context: only a kubernetes target has it"),
    ],
)  # fmt: skip
def test_bad_kubernetes_keys_are_named(tmp_path: Path, extra: str, kind: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("'", "'")):
        _load(tmp_path, extra, kind)


# -- the relay ------------------------------------------------------------------------------------------
def _echo_server() -> tuple[socket.socket, int]:
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=lambda c=conn: [c.sendall(d) for d in iter(lambda: c.recv(1024), b"")],
                             daemon=True).start()  # fmt: skip

    threading.Thread(target=serve, daemon=True).start()
    return server, server.getsockname()[1]


def test_the_relay_passes_bytes_to_the_pod_of_its_slot_and_closes_when_there_is_none() -> None:
    server, port = _echo_server()
    upstream: list[tuple[str, int] | None] = [("127.0.0.1", port)]
    relay = Relay(lambda: upstream[0])
    try:
        with socket.create_connection(("127.0.0.1", relay.port), timeout=2) as conn:
            conn.sendall(b"ping")
            assert conn.recv(16) == b"ping"
            relay.cut()  # the pod was replaced: the connection to it ends
            assert conn.recv(16) == b""
        upstream[0] = None  # no pod holds the slot
        with socket.create_connection(("127.0.0.1", relay.port), timeout=2) as conn:
            assert conn.recv(16) == b""
    finally:
        relay.close()
        server.close()


# -- slots and platform events from watch events ----------------------------------------------------------
def _pod(name: str, uid: str, *, ready: bool = False, started: str = "", deleting: bool = False) -> V1Pod:
    running = V1ContainerState(running=V1ContainerStateRunning() if started else None)
    status = V1ContainerStatus(name="app", image="i", image_id="", ready=ready, restart_count=0,
                               container_id=f"containerd://{started}" if started else None, state=running)  # fmt: skip
    return V1Pod(
        metadata=V1ObjectMeta(name=name, uid=uid, labels={"app.kubernetes.io/component": "app"},
                              deletion_timestamp="2026-01-01T00:00:00Z" if deleting else None,
                              deletion_grace_period_seconds=0 if deleting else None),
        spec=V1PodSpec(containers=[], node_name="node" if started or ready else None),
        status=V1PodStatus(pod_ip="10.0.0.1" if started else None, container_statuses=[status],
                           conditions=[V1PodCondition(type="Ready", status=str(ready))]),
    )  # fmt: skip


def test_a_replaced_pod_takes_the_slot_of_the_one_deleted_and_each_step_is_an_event() -> None:
    target = KubernetesTarget(context="c", namespace="n", replicas=2)
    target._grow_slots(2)
    target._apps = 2
    try:
        target._on_pod("ADDED", _pod("a", "1", ready=True, started="c1"), 1.0)
        target._on_pod("ADDED", _pod("b", "2", ready=True, started="c2"), 1.0)
        assert target._slots == ["a", "b"]
        target._on_pod("MODIFIED", _pod("a", "1", started="c1", deleting=True), 2.0)
        assert target._slots == [None, "b"]
        target._on_pod("DELETED", _pod("a", "1", started="c1", deleting=True), 2.1)
        target._on_pod("ADDED", _pod("c", "3"), 2.2)
        assert target._slots == ["c", "b"]
        target._on_pod("MODIFIED", _pod("c", "3", started="c3"), 2.5)
        target._on_pod("MODIFIED", _pod("c", "3", ready=True, started="c3"), 3.0)
        later = [(e.name, e.replica, e.wall) for e in target.platform_events() if e.wall >= 2.0]
        assert later == [("deleted", "app-0", 2.0), ("gone", "app-0", 2.1), ("created", "app-0", 2.2),
                         ("scheduled", "app-0", 2.5), ("started", "app-0", 2.5), ("ready", "app-0", 3.0)]  # fmt: skip
        assert target._scrape_targets() == ("10.0.0.1:8080", "10.0.0.1:8080")
    finally:
        for relay in target._relays:
            relay.close()
