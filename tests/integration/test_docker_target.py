"""The Docker target on a real engine: every fault observed on containers and reverted, and nothing left behind."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import docker
import docker.errors
import docker.models.networks
import httpx
import pymongo
import pytest

from chaos.faults import BadRelease, Disconnect, DiskCorruption, Kill, Ledger, MongoCorruption, Partition, Pause
from chaos.faults.process import SystemFailure, answers
from chaos.guardian import KILL_TIMEOUT_S, log_path
from chaos.ownership import LABEL_TOKEN, Owners
from chaos.servers.procfs import pid_alive
from chaos.targets.base import is_running
from chaos.targets.docker import CONFIG_PREFIX, LABEL_RUN, LABEL_TOOL, DockerTarget, docker_client
from chaos.targets.images import IMAGE_SETS, PREFIX, _build, _untag_stale
from chaos.wait import wait_for
from tests.runners import guardian_of, kill_with_guardian

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def containers() -> Iterator[DockerTarget]:
    target = DockerTarget(replicas=2)
    target.start()
    try:
        yield target
    finally:
        target.close()


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "ledger")


def _healthy(target: DockerTarget) -> bool:
    return all(httpx.get(f"{url}/health", timeout=2).status_code == 200 for url in target.endpoints.apps)


def _users(target: DockerTarget) -> list[dict[str, Any]]:
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(target.endpoints.mongodb_uri)
    try:
        return list(client[target.database].users.find().sort("_id", 1))
    finally:
        client.close()


def test_the_stack_runs_as_labelled_containers_answering_on_stable_ports(containers: DockerTarget) -> None:
    assert _healthy(containers)
    rows = {row.name: row for row in containers.status()}
    assert set(rows) == {"mongodb", "redis", "toxiproxy", "prometheus", "app-0", "app-1"}
    assert all(row.running and row.pid for row in rows.values())
    client = docker_client()
    try:
        labelled = client.containers.list(filters={"label": f"{LABEL_RUN}={containers.run_id}"})
        assert len(labelled) == 6
        assert client.networks.list(filters={"label": f"{LABEL_RUN}={containers.run_id}"})
        assert client.volumes.list(filters={"label": f"{LABEL_RUN}={containers.run_id}"})
    finally:
        client.close()
    for link in ("mongodb", "redis"):
        for url in containers.endpoints.apps:
            httpx.post(f"{url}/users", json={"id": f"seed-{link}-{url[-5:]}", "name": "n", "email": "e@x"}, timeout=5)


def test_a_killed_replica_is_restarted_by_docker_and_docker_says_when(containers: DockerTarget, ledger: Ledger) -> None:
    with Kill(containers, "app", replicas=0, ledger=ledger) as fault:
        killed = fault.killed[0]
    rows = {row.name: row for row in containers.status()}
    assert rows["app-0"].pid != killed
    assert rows["app-0"].restarts >= 1
    wait_for(lambda: _healthy(containers), what="every replica healthy", timeout=30, not_yet=(httpx.HTTPError,))
    actions = [(event.name, event.replica) for event in containers.platform_events()]
    assert ("die", "app-0") in actions
    assert ("start", "app-0") in actions[actions.index(("die", "app-0")) :]


def test_a_killed_store_stays_down_until_started_on_its_own_data(containers: DockerTarget, ledger: Ledger) -> None:
    before = _users(containers)
    assert before
    fault = Kill(containers, "mongodb", ledger=ledger)
    fault.inject()
    assert not answers(containers.endpoints, "mongodb")()
    assert not is_running(containers, "mongodb")
    fault.revert()  # starts it again, on its volume
    assert _users(containers) == before


@pytest.mark.parametrize("fault_class", [Pause, Disconnect])
def test_a_hung_or_cut_off_store_is_seen_and_brought_back(
    containers: DockerTarget, ledger: Ledger, fault_class: type[Pause | Disconnect]
) -> None:
    with fault_class(containers, "redis", ledger=ledger):
        assert not answers(containers.endpoints, "redis")()
    assert answers(containers.endpoints, "redis")()
    assert ledger.entries() == []


def test_a_partition_through_the_toxiproxy_container_cuts_the_app_off_mongodb(
    containers: DockerTarget, ledger: Ledger
) -> None:
    app = containers.endpoints.apps[0]
    reach = containers.endpoints.proxies["mongodb"]["reach"]
    with Partition(containers.endpoints.toxiproxy_api, "mongodb", reach=reach, ledger=ledger):
        wait_for(lambda: httpx.get(f"{app}/health", timeout=5).status_code == 503, what="the app to see MongoDB gone",
                 timeout=15)  # fmt: skip
    wait_for(lambda: _healthy(containers), what="the app back", timeout=30, not_yet=(httpx.HTTPError,))


def test_documents_and_volume_files_are_corrupted_and_restored(containers: DockerTarget, ledger: Ledger) -> None:
    before = _users(containers)
    with MongoCorruption(containers.endpoints.mongodb_uri, containers.database, "users", "garble", percent=50,
                         ledger=ledger):  # fmt: skip
        assert _users(containers) != before
    assert _users(containers) == before
    containers.stop("mongodb")
    try:
        files = containers.data_files("mongodb")
        assert files, "the volume's files are on this host"
        with DiskCorruption(files, "flip", ledger=ledger, is_stopped=lambda: not is_running(containers, "mongodb")):
            pass
    finally:
        containers.start_component("mongodb")
    assert _users(containers) == before


@pytest.mark.parametrize("defect", ["errors", "crash"])
def test_a_bad_release_is_seen_by_its_defect_and_rolled_back(
    containers: DockerTarget, ledger: Ledger, defect: str
) -> None:
    with BadRelease(containers, f"9.9.{len(defect)}", defect, ledger=ledger):
        assert containers.release["defect"] == defect
    assert containers.release["version"] == "1.0.0"
    wait_for(lambda: _healthy(containers), what="every replica healthy", timeout=60, not_yet=(httpx.HTTPError,))


def test_a_complete_system_failure_stops_everything_and_nothing_restarts_it(
    containers: DockerTarget, ledger: Ledger
) -> None:
    fault = SystemFailure(containers, ledger=ledger)
    fault.inject()
    assert sorted(fault.killed) == ["app", "mongodb", "prometheus", "redis", "toxiproxy"]
    assert not any(row.running for row in containers.status())
    fault.revert()
    wait_for(lambda: _healthy(containers), what="every replica healthy", timeout=60, not_yet=(httpx.HTTPError,))


RUNNER = """
import sys, time
from chaos.targets.docker import DockerTarget
target = DockerTarget(replicas=1)
target.start()
print(target.run_id, flush=True)
time.sleep(600)
"""


def test_the_guardian_removes_what_a_runner_killed_with_sigkill_left() -> None:
    with subprocess.Popen([sys.executable, "-c", RUNNER], cwd=ROOT, stdout=subprocess.PIPE, text=True) as runner:
        try:
            assert runner.stdout is not None
            run_id = runner.stdout.readline().strip()
            guardian = guardian_of(runner.pid)
        finally:
            runner.send_signal(signal.SIGKILL)  # no teardown runs; its guardian wakes
    label = {"label": f"{LABEL_RUN}={run_id}"}
    client = docker.from_env()
    try:

        def removed() -> bool:
            return not (client.containers.list(all=True, filters=label) or client.networks.list(filters=label)
                        or client.volumes.list(filters=label))  # fmt: skip

        # Its processes first (none here), then each container force-removed (a SIGKILL, then the remove).
        wait_for(removed, what=f"the guardian to remove run {run_id}", timeout=KILL_TIMEOUT_S + 60)
    finally:
        client.close()
    assert guardian is not None
    wait_for(lambda: not pid_alive(guardian), what="the guardian to finish its log", timeout=KILL_TIMEOUT_S)
    assert f"container chaos-{run_id}-mongodb" in log_path(runner.pid).read_text()
    assert not (Path(tempfile.gettempdir()) / f"{CONFIG_PREFIX}{run_id}").exists()  # Prometheus's settings too


def _cleanup(ledger: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chaos.cli", "cleanup", "--ledger-dir", str(ledger), "--workdir",
                           str(tmp_path / "runs"), "--target", "docker"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=os.environ)  # fmt: skip


def test_objects_labelled_like_ours_without_a_claim_proving_a_dead_run_stay(tmp_path: Path) -> None:
    """A volume with a garbled run label, a container with the tool's label only, a network whose claim is a
    runner's in another pid namespace (another container on this engine), a volume named outside its run's
    prefix: the sweep leaves each, with its data, and says why."""
    owners = Owners(tmp_path / "l" / "owners")
    theirs = owners.claim("20261204-120000-0a0a0a", "docker", "chaos-20261204-120000-0a0a0a-")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)  # fmt: skip
    dead = dataclasses.replace(theirs, pid=int(gone.stdout), pidns="pid:[4026530000]")
    (owners.directory / f"{theirs.run_id}.json").write_text(json.dumps(dataclasses.asdict(dead)))
    dead_run = owners.claim("20261204-120000-0b0b0b", "docker", "chaos-20261204-120000-0b0b0b-")
    (owners.directory / f"{dead_run.run_id}.json").write_text(
        json.dumps(dataclasses.asdict(dataclasses.replace(dead_run, pid=int(gone.stdout))))
    )
    tool = {LABEL_TOOL: "chaos-drill"}
    client = docker.from_env()
    made: list[Any] = []
    try:
        made.append(client.volumes.create(f"users-data-{os.getpid()}", labels={**tool, LABEL_RUN: "../x:1:2"}))
        made.append(client.containers.create(IMAGE_SETS["local"].redis.image, ["true"], name=f"payments-{os.getpid()}",
                                             labels=tool))  # fmt: skip
        made.append(
            client.networks.create(
                f"chaos-{theirs.run_id}-network", labels={**tool, LABEL_RUN: theirs.run_id, LABEL_TOKEN: theirs.digest}
            )
        )
        made.append(
            client.volumes.create(
                f"backups-{os.getpid()}", labels={**tool, LABEL_RUN: dead_run.run_id, LABEL_TOKEN: dead_run.digest}
            )
        )
        result = _cleanup(tmp_path / "l", tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"left alone volume users-data-{os.getpid()}: its run label '../x:1:2' is not a run id" in result.stdout
        assert f"left alone container payments-{os.getpid()}: its run label None is not a run id" in result.stdout
        assert (f"left alone network chaos-{theirs.run_id}-network: its runner is in another pid namespace"
                in result.stdout)  # fmt: skip
        assert (f"left alone volume backups-{os.getpid()}: its name is not under run {dead_run.run_id}'s prefix"
                in result.stdout)  # fmt: skip
        for item in made:
            item.reload()  # each still there: NotFound otherwise
    finally:
        for item in reversed(made):
            with contextlib.suppress(docker.errors.NotFound):
                if isinstance(item, docker.models.networks.Network):
                    item.remove()
                else:
                    item.remove(force=True)
        client.close()


def _lost_runner(ledger: Path) -> str:
    """RUNNER claiming in ``ledger``, killed with its guardian once its stack is up: its run id."""
    env = {**os.environ, "CHAOS_LEDGER_DIR": str(ledger)}
    with subprocess.Popen([sys.executable, "-c", RUNNER], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                          env=env) as runner:  # fmt: skip
        try:
            assert runner.stdout is not None
            return runner.stdout.readline().strip()
        finally:
            kill_with_guardian(runner)  # no teardown runs, no guardian


def test_two_runners_sharing_an_engine_each_clean_up_only_their_own(tmp_path: Path) -> None:
    """Two machines (or two containers) on one engine, each with its own ledger, both runners lost with their
    guardians: each one's `drill cleanup` removes its own run's objects and leaves the other's, saying so."""
    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(_lost_runner, [tmp_path / "a", tmp_path / "b"])
    client = docker.from_env()
    try:
        for ledger, mine, theirs in ((tmp_path / "b", second, first), (tmp_path / "a", first, second)):
            result = _cleanup(ledger, tmp_path)
            assert result.returncode == 0, result.stdout + result.stderr
            assert f"stopped container chaos-{mine}-mongodb" in result.stdout
            if theirs == first:
                assert f"left alone container chaos-{theirs}-mongodb: no run {theirs} in {ledger}" in result.stdout
                assert len(client.containers.list(all=True, filters={"label": f"{LABEL_RUN}={theirs}"})) == 5
            assert list((ledger / "owners").glob("*.json")) == []  # its claim went with the last object
            label = {"label": f"{LABEL_RUN}={mine}"}
            assert client.containers.list(all=True, filters=label) == []
            assert client.networks.list(filters=label) == []
            assert client.volumes.list(filters=label) == []
            assert not (Path(tempfile.gettempdir()) / f"{CONFIG_PREFIX}{mine}").exists()
    finally:
        client.close()


def test_a_rebuild_drops_the_tags_earlier_builds_left_and_keeps_what_a_container_uses() -> None:
    """Each content change of a local image (a new FerretDB binary, an edited app) is a new ``build-*`` tag and,
    for the app, new release tags: the ones it replaced go, so the engine's disk does not fill run after run."""
    repository = f"{PREFIX}/untag-test-{os.getpid()}"
    client = docker.from_env()
    try:
        base = IMAGE_SETS["local"].redis.image
        _build(client, f"{repository}:build-current", f"FROM {base}\nLABEL drill.test=current\n", {})
        _build(client, f"{repository}:build-in-use", f"FROM {base}\nLABEL drill.test=in-use\n", {})
        current = client.images.get(f"{repository}:build-current")
        stale_base, current_base = "0" * 12, current.short_id.removeprefix("sha256:")
        for tag in ("build-0ld", "1.0.0", f"1.1.0-good-{stale_base}", f"1.1.0-crash-loop-{current_base}"):
            current.tag(repository, tag)
        container = client.containers.create(f"{repository}:build-in-use", command=["true"])
        try:
            removed = _untag_stale(client, repository, keep=f"{repository}:build-current")
            left = {tag for image in client.images.list(name=repository) for tag in image.tags}
        finally:
            container.remove(force=True)
        assert sorted(removed) == [f"{repository}:1.1.0-good-{stale_base}", f"{repository}:build-0ld"]
        assert left == {f"{repository}:{tag}" for tag in ("build-current", "1.0.0", f"1.1.0-crash-loop-{current_base}",
                                                           "build-in-use")}  # fmt: skip
    finally:
        for image in client.images.list(name=repository):
            client.images.remove(image.id, force=True)
        client.close()


def test_no_step_or_fixture_imports_a_concrete_target() -> None:
    """Steps and fixtures see the Target protocol only: every feature runs unchanged on every target."""
    for path in [*(ROOT / "steps").glob("*.py"), *(ROOT / "fixtures").glob("*.py")]:
        text = path.read_text()
        for concrete in ("chaos.targets.local", "chaos.targets.docker", "LocalTarget", "DockerTarget"):
            assert concrete not in text, f"{path.name} names {concrete}"
