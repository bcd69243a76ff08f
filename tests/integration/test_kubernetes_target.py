"""The Kubernetes target on a real cluster (`make cluster-up`): the chart installed, pods deleted and replaced,
containers killed and restarted in place, a bad release rolled back, every workload deleted and rebuilt,
and a killed runner's namespace removed by `drill cleanup`.

Skipped when no cluster answers, except in CI (``CI`` set), where the cluster is part of the job.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import httpx
import pytest

from chaos.errors import BackupVerificationError
from chaos.faults import Ledger, PodDelete
from chaos.faults.process import Kill
from chaos.recovery.config_backup import backup_config, load_resources, new_key
from chaos.recovery.store import BackupStore
from chaos.targets.config import DEFAULT_TARGETS, build_target, load_target
from chaos.targets.kubernetes import LABEL_TOOL, TOOL, KubernetesTarget
from chaos.wait import wait_for
from tests.runners import kill_with_guardian

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = [pytest.mark.integration, pytest.mark.kubernetes]
ROOT = DEFAULT_TARGETS.parent.parent


def _cluster_answers() -> bool:
    settings = load_target(DEFAULT_TARGETS, "kubernetes").kubernetes
    assert settings is not None
    assert settings.kubeconfig is not None
    if not settings.kubeconfig.is_file():
        return False
    done = subprocess.run([sys.executable, "-c", "import httpx,ssl; httpx.get('https://127.0.0.1:6443/livez', "
                           "verify=False, timeout=3)"], capture_output=True, check=False)  # fmt: skip
    return done.returncode == 0


@pytest.fixture(scope="module")
def cluster() -> None:
    if not _cluster_answers():
        if os.environ.get("CI"):
            pytest.fail("CI runs the Kubernetes tests, but no cluster answers: `make cluster-up` first")
        pytest.skip("no local cluster answers (make cluster-up)")


@pytest.fixture
def k8s(cluster: None, tmp_path: Path) -> Iterator[KubernetesTarget]:
    target = build_target(load_target(DEFAULT_TARGETS, "kubernetes"), workdir=tmp_path)
    assert isinstance(target, KubernetesTarget)
    target.start()
    try:
        yield target
    finally:
        target.close()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_deleted_pod_is_replaced_and_its_replica_answers_again(k8s: KubernetesTarget, tmp_path: Path) -> None:
    before = k8s.pod_uids("app")
    assert sorted(before) == ["app-0", "app-1", "app-2"]
    since = time.time()
    with PodDelete(k8s, "app", replicas=1, ledger=Ledger(tmp_path / "ledger")) as fault:
        assert fault.deleted == {"app-1": before["app-1"]}
        assert before["app-1"] not in k8s.pods_present()  # observed gone from the API
    after = k8s.pod_uids("app")  # the revert waited for a new running pod in the slot
    assert after["app-1"] != before["app-1"]
    assert after["app-0"] == before["app-0"]
    wait_for(lambda: _healthy(k8s.endpoints.apps[1]), what="app-1 to answer through its relay", timeout=30)
    events = [(e.name, e.replica) for e in k8s.platform_events() if e.wall >= since and e.component == "app"]
    for name in ("deleted", "gone", "created", "scheduled", "started"):
        assert (name, "app-1") in events, events
    wait_for(lambda: ("ready", "app-1") in [(e.name, e.replica) for e in k8s.platform_events() if e.wall >= since],
             what="the replacement's Ready from the watch", timeout=30)  # fmt: skip
    names = [e.name for e in k8s.platform_events() if e.wall >= since]
    assert names.index("deleted") < names.index("scheduled") < names.index("started") < names.index("ready")


def test_a_killed_container_restarts_in_its_pod(k8s: KubernetesTarget, tmp_path: Path) -> None:
    uids = k8s.pod_uids("app")
    [row] = [row for row in k8s.status() if row.name == "app-0"]
    assert row.pid is not None
    assert row.restarts == 0
    with Kill(k8s, "app", replicas=0, ledger=Ledger(tmp_path / "ledger")):
        pass  # the revert waits for the replica under a new pid
    [after] = [row for row in k8s.status() if row.name == "app-0"]
    assert after.pid != row.pid
    assert after.restarts == 1
    assert k8s.pod_uids("app") == uids  # the same pods: restarted in place
    assert any(e.name == "restarted" and e.replica == "app-0" for e in k8s.platform_events())
    wait_for(lambda: _healthy(k8s.endpoints.apps[0]), what="app-0 to answer again", timeout=30)


def test_a_crashing_release_is_rolled_back_with_helm(k8s: KubernetesTarget) -> None:
    k8s.deploy("1.1.0", "crash")

    def crash_looping() -> bool:
        rows = [row for row in k8s.status() if row.component == "app"]
        return len(rows) == 3 and all(row.restarts >= 1 for row in rows)

    wait_for(crash_looping, what="every replica of 1.1.0 to crash", timeout=60)
    assert not any(_healthy(url) for url in k8s.endpoints.apps)
    assert k8s.rollback() == "1.0.0"
    for url in k8s.endpoints.apps:
        assert httpx.get(f"{url}/health", timeout=2).status_code == 200
        assert 'version="1.0.0"' in httpx.get(f"{url}/metrics", timeout=2).text


# Another process opens the kept backup, as an operator would after the run: with the key the store kept.
OPEN_KEPT = """
import json, os, sys
from pathlib import Path
from chaos.recovery.config_backup import load_resources
descriptor = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
with os.fdopen(descriptor, "w") as out:
    json.dump(load_resources(Path(sys.argv[1])), out)
"""


def test_a_deleted_namespace_is_rebuilt_from_the_resource_backup(k8s: KubernetesTarget, tmp_path: Path) -> None:
    store = BackupStore(tmp_path / "store", run_id="run-1")  # a drill's store without DRILL_BACKUP_KEY
    config = store.new("run-1", "complete-system-failure", "config")
    manifest = backup_config(k8s.endpoints, config, key=store.config_key(), resources=k8s.resources())
    store.seal(config)
    assert any(secret.startswith("resources.yaml: Secret sh.helm.release") for secret in manifest["secrets"])
    text = (config / "resources.yaml").read_text()
    assert "kind: Deployment" in text
    assert "H4sI" not in text  # helm's release record (gzip, base64) only encrypted
    killed = k8s.kill_all()
    assert set(killed) == {"app", "mongodb", "redis", "toxiproxy", "prometheus"}
    assert not k8s.pods_present()
    assert not any(row.running for row in k8s.status())
    env = {name: value for name, value in os.environ.items() if name != "DRILL_BACKUP_KEY"}
    opened = subprocess.run([sys.executable, "-c", OPEN_KEPT, str(config), str(tmp_path / "objects.json")],
                            cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    objects = json.loads((tmp_path / "objects.json").read_text())
    assert any(obj["kind"] == "Secret" and obj["metadata"]["name"].startswith("sh.helm.release") for obj in objects)
    assert "created" in k8s.restore_resources(objects)
    for component in ("toxiproxy", "prometheus", "redis"):
        k8s.start_component(component)
    k8s.start_component("mongodb", fresh_data=True)
    k8s.scale("app", 3)
    assert all(_healthy(url) for url in k8s.endpoints.apps)
    with pytest.raises(BackupVerificationError, match="another key"):
        load_resources(config, key=new_key())


RUNNER = ("from pathlib import Path\nfrom chaos.targets.config import DEFAULT_TARGETS, build_target, load_target\n"
          "t = build_target(load_target(DEFAULT_TARGETS, 'kubernetes'), workdir=Path('.'))\n"
          "t.start()\nprint(t.namespace, flush=True)\nimport time\ntime.sleep(600)\n")  # fmt: skip


def _run_killed(*, guardian_too: bool, ledger: Path) -> str:
    """Start the Kubernetes target in a runner of its own and SIGKILL it (with its guardian); its namespace.

    The runner claims its namespace in ``ledger``.
    """
    env = {**os.environ, "CHAOS_LEDGER_DIR": str(ledger)}
    with subprocess.Popen([sys.executable, "-c", RUNNER], stdout=subprocess.PIPE, text=True, cwd=ROOT,
                          env=env) as runner:  # fmt: skip
        try:
            assert runner.stdout is not None
            namespace = runner.stdout.readline().strip()
            assert namespace.startswith("chaos-drill-")
        finally:
            if guardian_too:
                kill_with_guardian(runner)
            else:
                runner.send_signal(signal.SIGKILL)
                runner.wait()
    return namespace


def test_the_guardian_removes_the_namespace_of_a_runner_killed_with_sigkill(cluster: None, tmp_path: Path) -> None:
    from kubernetes import client, config

    namespace = _run_killed(guardian_too=False, ledger=tmp_path / "ledger")
    settings = load_target(DEFAULT_TARGETS, "kubernetes").kubernetes
    assert settings is not None
    core = client.CoreV1Api(config.new_client_from_config(config_file=str(settings.kubeconfig),
                                                          context=settings.context))  # fmt: skip

    def gone() -> bool:
        return namespace not in {ns.metadata.name for ns in core.list_namespace().items}

    wait_for(gone, what=f"namespace {namespace} to be removed by the runner's guardian", timeout=120)
    assert list((tmp_path / "ledger" / "owners").glob("*.json")) == []  # its claim went with it


def test_cleanup_removes_the_namespace_of_a_runner_lost_with_its_guardian(cluster: None, tmp_path: Path) -> None:
    from kubernetes import client, config

    namespace = _run_killed(guardian_too=True, ledger=tmp_path / "ledger")
    settings = load_target(DEFAULT_TARGETS, "kubernetes").kubernetes
    assert settings is not None
    core = client.CoreV1Api(config.new_client_from_config(config_file=str(settings.kubeconfig),
                                                          context=settings.context))  # fmt: skip
    assert namespace in {ns.metadata.name for ns in core.list_namespace(label_selector=f"{LABEL_TOOL}={TOOL}").items}
    done = subprocess.run([sys.executable, "-m", "chaos.cli", "cleanup", "--ledger-dir", str(tmp_path / "ledger")],
                          capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"namespace {namespace}" in done.stdout

    def gone() -> bool:
        return namespace not in {ns.metadata.name for ns in core.list_namespace().items}

    wait_for(gone, what=f"namespace {namespace} to be removed", timeout=120)
