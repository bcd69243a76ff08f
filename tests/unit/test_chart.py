"""The Helm chart as `helm template` renders it: Services inside the cluster unless NodePorts are asked for,
and Redis's password only ever in a Secret (issue 23).

The local cluster's kubernetes target opts in with ``exposure.nodePort=true``; a cluster installed by
hand gets ClusterIP Services only. Skipped where no helm binary is found (PATH, or the local
cluster's build cache).
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaos.targets.kubernetes import CHART, LOCAL_CACHE_BIN

HELM = shutil.which("helm") or (str(LOCAL_CACHE_BIN / "helm") if (LOCAL_CACHE_BIN / "helm").exists() else None)
pytestmark = pytest.mark.skipif(HELM is None, reason="no helm binary (scripts/k8s/build.sh builds one)")
EXPOSED = {"app", "mongodb", "redis", "toxiproxy", "prometheus"}  # every Service but the headless app-pods


def render(*options: str) -> list[dict[str, Any]]:
    assert HELM is not None
    done = subprocess.run([HELM, "template", "drill", str(CHART), *options], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [document for document in yaml.safe_load_all(done.stdout) if document]


def services(documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["labels"]["app.kubernetes.io/component"]: doc["spec"] for doc in documents
            if doc["kind"] == "Service"}  # fmt: skip


def containers(documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {container["name"]: container for doc in documents if doc["kind"] in ("Deployment", "StatefulSet")
            for container in doc["spec"]["template"]["spec"]["containers"]}  # fmt: skip


def test_every_service_is_cluster_ip_by_default() -> None:
    found = services(render())
    assert set(found) == EXPOSED | {"app-pods"}
    assert {name: spec.get("type") for name, spec in found.items() if name in EXPOSED} == dict.fromkeys(
        EXPOSED, "ClusterIP"
    )
    assert found["app-pods"]["clusterIP"] == "None"  # headless: Prometheus's discovery, never exposed
    assert not [port for spec in found.values() for port in spec["ports"] if "nodePort" in port]


def test_node_ports_are_an_opt_in_for_the_local_cluster() -> None:
    found = services(render("--set", "exposure.nodePort=true", "--set", "app.service.nodePort=30080"))
    assert {name: spec["type"] for name, spec in found.items() if name in EXPOSED} == dict.fromkeys(EXPOSED, "NodePort")
    assert "type" not in found["app-pods"]
    assert [port.get("nodePort") for port in found["app"]["ports"]] == [30080]
    pinned_without_opt_in = services(render("--set", "app.service.nodePort=30080"))
    assert pinned_without_opt_in["app"]["type"] == "ClusterIP"
    assert "nodePort" not in pinned_without_opt_in["app"]["ports"][0]


def test_exposure_must_be_true_or_false() -> None:
    assert HELM is not None
    done = subprocess.run([HELM, "template", "drill", str(CHART), "--set-string", "exposure.nodePort=yes"],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode != 0
    assert "exposure.nodePort: yes is not true or false" in done.stderr


@pytest.mark.parametrize("options", [(), ("-f", str(CHART / "values-upstream.yaml"))], ids=["local", "upstream"])
def test_redis_always_has_a_password_from_a_secret_and_never_on_a_command_line(options: tuple[str, ...]) -> None:
    documents = render(*options)
    secret = next(doc for doc in documents if doc["kind"] == "Secret")
    password = base64.b64decode(secret["data"]["password"]).decode()
    assert len(password) >= 32
    found = containers(documents)
    for container in ("redis", "app"):
        env = {entry["name"]: entry for entry in found[container]["env"]}
        assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": secret["metadata"]["name"],
                                                                      "key": "password"}  # fmt: skip
    for name, container in found.items():
        words = [*container.get("command", []), *container.get("args", [])]
        values = [str(entry.get("value", "")) for entry in container.get("env", [])]
        assert not [word for word in words + values if password in word], name
        assert not [word for word in words if "--requirepass" in word or "protected-mode no" in word], name
    script = found["redis"]["command"][2]
    # The one use of the variable is printf's, a shell builtin: it reaches no program's argv.
    assert script.count("$REDIS_PASSWORD") == 1
    assert 'printf %s "$REDIS_PASSWORD" | od' in script
    assert "exec redis-server /data/redis.conf - <<EOF\n" in script  # the settings come on its standard input


def test_a_named_secret_replaces_the_charts_own() -> None:
    documents = render("--set", "redis.passwordSecret=drill-redis")
    assert not [doc for doc in documents if doc["kind"] == "Secret"]
    for container in ("redis", "app"):
        env = {entry["name"]: entry for entry in containers(documents)[container]["env"]}
        assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "drill-redis"


def test_the_app_image_starts_without_any_secret_on_its_command_line() -> None:
    dockerfile = (Path(CHART).parents[2] / "deploy" / "docker" / "app.Dockerfile").read_text()
    commands = [line for line in dockerfile.splitlines() if line.startswith(("CMD", "ENTRYPOINT", "RUN"))]
    assert commands
    assert not [line for line in commands if "PASSWORD" in line.upper() or "REDIS_URL" in line.upper()]
