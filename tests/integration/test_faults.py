"""Every fault on real servers: injected, observed, reverted, and the system healthy again."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import httpx
import pymongo
import pytest
import redis

from chaos.errors import SafetyError, ToxiproxyError
from chaos.faults import (
    BlastRadius,
    DiskCorruption,
    FaultNotObservedError,
    Kill,
    Ledger,
    MongoCorruption,
    Partition,
    RedisCorruption,
    SystemFailure,
    Toxic,
)
from chaos.faults.network import TOXIC_ATTRIBUTES
from chaos.servers.process import pid_alive
from chaos.wait import wait_for

if TYPE_CHECKING:
    from pathlib import Path

    from chaos.targets.local import LocalTarget


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "ledger")


def healthy(target: LocalTarget) -> bool:
    try:
        return all(httpx.get(f"{app}/health", timeout=2).status_code == 200 for app in target.endpoints.apps)
    except httpx.HTTPError:
        return False


def wait_healthy(target: LocalTarget) -> None:
    wait_for(lambda: healthy(target), what="every replica healthy again", timeout=30)


def app_pids(target: LocalTarget) -> dict[str, int | None]:
    return {row.name: row.pid for row in target.status() if row.component == "app"}


# -- processes -------------------------------------------------------------------------------------------
def test_killing_the_database_is_observed_and_reverted(sandbox: LocalTarget, ledger: Ledger) -> None:
    fault = Kill(sandbox, "mongodb", ledger=ledger)
    with fault:
        [pid] = fault.killed.values()
        assert not pid_alive(pid)
        assert [entry.kind for entry in ledger.entries()] == ["kill"]
        assert httpx.get(f"{sandbox.endpoints.apps[0]}/health", timeout=5).json()["failed"] == ["mongodb"]
    assert ledger.entries() == []
    wait_healthy(sandbox)


@pytest.mark.parametrize(("replicas", "signal_name", "expected"), [("one", "SIGKILL", 1), (0.5, "SIGTERM", 2),
                                                                     ("all", "SIGKILL", 3)])  # fmt: skip
def test_killed_replicas_come_back_with_new_pids(
    sandbox: LocalTarget, ledger: Ledger, replicas: str | float, signal_name: str, expected: int
) -> None:
    before = app_pids(sandbox)
    fault = Kill(sandbox, "app", replicas=replicas, signal_name=signal_name, ledger=ledger, seed=7)
    with fault:
        assert len(fault.killed) == expected
        assert not any(pid_alive(pid) for pid in fault.killed.values())
    after = app_pids(sandbox)
    for index in fault.killed:
        assert after[f"app-{index}"] != before[f"app-{index}"]
    wait_healthy(sandbox)


def test_blast_radius_refuses_before_anything_is_killed(sandbox: LocalTarget, ledger: Ledger) -> None:
    before = app_pids(sandbox)
    fault = Kill(sandbox, "app", replicas="all", blast_radius=BlastRadius(max_replicas=1, max_fraction=0.5),
                 ledger=ledger)  # fmt: skip
    with pytest.raises(SafetyError, match="3 of 3 replicas exceeds the blast radius"), fault:
        pass
    assert app_pids(sandbox) == before
    assert ledger.entries() == []


def test_killing_a_process_already_gone_does_not_land(sandbox: LocalTarget, ledger: Ledger) -> None:
    sandbox.kill("redis")
    with pytest.raises(FaultNotObservedError, match="no running process to kill; the fault cannot land"):
        Kill(sandbox, "redis", ledger=ledger).inject()


def test_a_system_failure_takes_every_component_down_and_is_reverted(sandbox: LocalTarget, ledger: Ledger) -> None:
    before = {row.name: row.pid for row in sandbox.status()}
    fault = SystemFailure(sandbox, blast_radius=BlastRadius(max_replicas=3, max_fraction=1.0), ledger=ledger)
    with fault:
        assert sorted(fault.killed) == ["app", "mongodb", "prometheus", "redis", "toxiproxy"]
        assert sorted(pid for pids in fault.killed.values() for pid in pids) == sorted(before.values())
        assert [entry.kind for entry in ledger.entries()] == ["system-failure"]
        assert not any(row.running for row in sandbox.status())
    assert ledger.entries() == []
    after = {row.name: row.pid for row in sandbox.status() if row.running}
    assert sorted(after) == sorted(before)
    assert not set(after.values()) & set(before.values())
    assert sandbox.toxiproxy.proxies().keys() == {"mongodb", "redis"}
    wait_healthy(sandbox)


def test_a_system_failure_respects_the_blast_radius(sandbox: LocalTarget, ledger: Ledger) -> None:
    before = {row.name: row.pid for row in sandbox.status()}
    fault = SystemFailure(sandbox, blast_radius=BlastRadius(max_replicas=2, max_fraction=1.0), ledger=ledger)
    with pytest.raises(SafetyError, match="3 of 3 replicas exceeds the blast radius"), fault:
        pass
    assert {row.name: row.pid for row in sandbox.status() if row.running} == before


def test_a_system_failure_of_a_stopped_stack_does_not_land(sandbox: LocalTarget, ledger: Ledger) -> None:
    sandbox.kill_all()
    with pytest.raises(FaultNotObservedError, match="nothing was running; the fault cannot land"):
        SystemFailure(sandbox, ledger=ledger).inject()


# -- network ---------------------------------------------------------------------------------------------
def test_partition_refuses_connections_until_reverted(sandbox: LocalTarget, ledger: Ledger) -> None:
    api = sandbox.endpoints.toxiproxy_api
    with Partition(api, "mongodb", ledger=ledger):
        assert sandbox.toxiproxy.proxy("mongodb").enabled is False
        response = httpx.get(f"{sandbox.endpoints.apps[0]}/health", timeout=5)
        assert response.json()["failed"] == ["mongodb"]
    assert sandbox.toxiproxy.proxy("mongodb").enabled is True
    assert ledger.entries() == []
    wait_healthy(sandbox)


def test_a_partition_with_a_duration_reverts_itself(sandbox: LocalTarget, ledger: Ledger) -> None:
    fault = Partition(sandbox.endpoints.toxiproxy_api, "redis", ledger=ledger, duration=0.5)
    fault.inject()
    assert sandbox.toxiproxy.proxy("redis").enabled is False
    wait_for(lambda: sandbox.toxiproxy.proxy("redis").enabled, what="the partition to end by itself", timeout=5)
    wait_for(lambda: ledger.entries() == [], what="the ledger entry to go", timeout=5)
    fault.revert()  # idempotent after the timer did it


def test_a_link_that_does_not_exist_cannot_land(sandbox: LocalTarget, ledger: Ledger) -> None:
    fault = Partition(sandbox.endpoints.toxiproxy_api, "postgres", ledger=ledger)
    with pytest.raises(FaultNotObservedError, match=r"no link 'postgres'.*cannot land"), fault:
        pass
    assert ledger.entries() == []


@pytest.mark.parametrize("toxic", sorted(TOXIC_ATTRIBUTES))
def test_every_toxic_is_read_back_and_removed(sandbox: LocalTarget, ledger: Ledger, toxic: str) -> None:
    attributes = {name: 50 for name in TOXIC_ATTRIBUTES[toxic]}
    with Toxic(sandbox.endpoints.toxiproxy_api, "redis", toxic, attributes, stream="both", ledger=ledger) as fault:
        held = {t["name"]: t for t in sandbox.toxiproxy.toxics("redis")}
        for name, stream in (("upstream", "upstream"), ("downstream", "downstream")):
            toxic_held = held[f"{fault.name}-{name}"]  # type: ignore[attr-defined]
            assert toxic_held["stream"] == stream
            assert toxic_held["attributes"] == {**toxic_held["attributes"], **attributes}
    assert sandbox.toxiproxy.toxics("redis") == []
    wait_healthy(sandbox)


def test_latency_is_felt_through_the_link(sandbox: LocalTarget, ledger: Ledger) -> None:
    client = redis.Redis.from_url(sandbox.endpoints.redis_proxy_url, socket_timeout=5)
    try:
        with Toxic(sandbox.endpoints.toxiproxy_api, "redis", "latency", {"latency": 100}, ledger=ledger):
            started = time.monotonic()
            client.ping()
            assert time.monotonic() - started >= 0.1
    finally:
        client.close()


def test_revert_is_idempotent_and_safe_before_inject(sandbox: LocalTarget, ledger: Ledger) -> None:
    fault = Toxic(sandbox.endpoints.toxiproxy_api, "mongodb", "bandwidth", {"rate": 10}, ledger=ledger)
    fault.revert()  # nothing injected yet: nothing to undo
    fault2 = Toxic(sandbox.endpoints.toxiproxy_api, "mongodb", "bandwidth", {"rate": 10}, ledger=ledger)
    fault2.inject()
    fault2.revert()
    fault2.revert()
    assert sandbox.toxiproxy.toxics("mongodb") == []


def test_a_bad_toxic_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(Exception, match="takes latency, jitter"):
        Toxic("http://127.0.0.1:9", "mongodb", "latency", {"delay": 5})
    with pytest.raises(Exception, match="unknown toxic 'lag'"):
        Toxic("http://127.0.0.1:9", "mongodb", "lag", {"latency": 5})


def test_the_toxiproxy_client_reports_refusals(sandbox: LocalTarget) -> None:
    with pytest.raises(ToxiproxyError, match="answered 404"):
        sandbox.toxiproxy.set_enabled("no-such-link", False)


# -- data ------------------------------------------------------------------------------------------------
def _seed(target: LocalTarget, users: int = 40) -> None:
    for i in range(users):
        httpx.post(f"{target.endpoints.apps[0]}/users", json={"id": f"u{i:02d}", "name": f"n{i}", "email": "e@x"})


def _users(target: LocalTarget) -> list[dict[str, Any]]:
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(target.endpoints.mongodb_uri)
    try:
        return list(client[target.endpoints.database].users.find().sort("_id", 1))
    finally:
        client.close()


@pytest.mark.parametrize(("mode", "changed"), [("garble", 8), ("delete", 5), ("drop", 40)])
def test_mongodb_corruption_is_found_and_undone(sandbox: LocalTarget, ledger: Ledger, mode: str, changed: int) -> None:
    _seed(sandbox)
    before = _users(sandbox)
    endpoints = sandbox.endpoints
    fault = MongoCorruption(endpoints.mongodb_uri, endpoints.database, "users", mode, percent=20, count=5,
                            ledger=ledger, seed=3)  # fmt: skip
    with fault:
        during = _users(sandbox)
        assert len(fault.ids) == changed
        assert sum(1 for doc in before if doc not in during) == changed
        assert (ledger.directory / f"{fault.id}.snapshot" / "documents.jsonl").exists()
    assert _users(sandbox) == before
    assert ledger.entries() == []


def test_redis_flush_and_garbage_are_undone_with_their_ttls(sandbox: LocalTarget, ledger: Ledger) -> None:
    client = redis.Redis.from_url(sandbox.endpoints.redis_url)
    try:
        for i in range(20):
            client.set(f"session:s{i}", f"user{i}", ex=3600)
        client.set("config:flag", "on")
        with RedisCorruption(sandbox.endpoints.redis_url, "flush", ledger=ledger):
            assert client.dbsize() == 0
        assert client.get("session:s7") == b"user7"
        assert 3500 < client.ttl("session:s7") <= 3600
        with RedisCorruption(sandbox.endpoints.redis_url, "garbage", pattern="session:*", count=5, ledger=ledger):
            assert sum(client.get(f"session:s{i}") != f"user{i}".encode() for i in range(20)) == 5
        assert all(client.get(f"session:s{i}") == f"user{i}".encode() for i in range(20))
        assert client.get("config:flag") == b"on"
    finally:
        client.close()


def test_a_flush_is_observed_while_a_workload_keeps_writing_new_keys(sandbox: LocalTarget, ledger: Ledger) -> None:
    client = redis.Redis.from_url(sandbox.endpoints.redis_url)
    try:
        for i in range(20):
            client.set(f"session:s{i}", f"user{i}")
        fault = RedisCorruption(sandbox.endpoints.redis_url, "flush", ledger=ledger)
        fault._apply()
        client.set("session:written-after-the-flush", "user")  # what a session writer does in between
        fault._observe()  # the keys from before are gone: the flush landed, whatever was written since
        client.delete("session:s3")
        fault.revert()
        assert client.get("session:s3") == b"user3"
    finally:
        client.close()


def test_disk_corruption_needs_a_stopped_server_and_is_undone(sandbox: LocalTarget, ledger: Ledger) -> None:
    _seed(sandbox)
    before = _users(sandbox)

    def stopped() -> bool:
        return not any(row.running for row in sandbox.status() if row.component == "mongodb")

    with pytest.raises(SafetyError, match="the server is running"):
        DiskCorruption(sandbox.data_files("mongodb"), "flip", is_stopped=stopped, ledger=ledger).inject()
    sandbox.stop("mongodb")
    files = sandbox.data_files("mongodb")  # a clean stop folds SQLite's -wal and -shm files away
    assert files
    originals = {path: path.read_bytes() for path in files}
    with DiskCorruption(files, "truncate", is_stopped=stopped, ledger=ledger):
        assert all(path.stat().st_size < len(originals[path]) for path in files)
    assert {path: path.read_bytes() for path in files} == originals
    sandbox.start_component("mongodb")
    assert _users(sandbox) == before


def test_flipped_bytes_in_a_stopped_servers_files_are_undone(sandbox: LocalTarget, ledger: Ledger) -> None:
    _seed(sandbox)
    before = _users(sandbox)
    sandbox.stop("mongodb")
    files = sandbox.data_files("mongodb")
    originals = {path: path.read_bytes() for path in files}
    with DiskCorruption(files, "flip", flips=200, ledger=ledger, seed=5):
        assert all(path.read_bytes() != originals[path] for path in files)
    assert {path: path.read_bytes() for path in files} == originals
    sandbox.start_component("mongodb")
    assert _users(sandbox) == before
