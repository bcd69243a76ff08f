"""The measurement layer against outages and losses whose truth is known (issue 3)."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pymongo
import pytest
import redis

from chaos.errors import ToxiproxyError
from chaos.measure.data_loss import classify_writes
from chaos.measure.final_read import read_tracked
from chaos.measure.latency import latencies, percentile
from chaos.measure.probe import Prober
from chaos.measure.rto import incidents, measure_rto, sustained_outages
from chaos.measure.workload import WORKLOADS, Outcome, Writer
from chaos.servers.launch import free_port
from chaos.targets.relay import Relay
from chaos.wait import wait_for
from tests.integration.conftest import ALL_CORES, busy

if TYPE_CHECKING:
    from chaos.targets.local import LocalTarget
    from tests.integration.conftest import Front

INTERVAL = 0.05


@pytest.mark.parametrize("cores", [0, ALL_CORES], ids=["quiet", "every-core-busy"])
def test_an_outage_with_exact_bounds_is_measured_within_two_probe_intervals(sandbox: LocalTarget, cores: int) -> None:
    """Connections refused from t0 to t1 (a proxy in front of one replica, no reconnect tail): the outage,
    and the RTO a drill would report, within two probe intervals of the truth, on a quiet machine and on
    one whose every core is kept busy by other processes."""
    port = free_port()
    sandbox.toxiproxy.create_proxy("ingress-0", f"127.0.0.1:{port}", sandbox.endpoints.apps[0].split("//")[1])
    prober = Prober([f"http://127.0.0.1:{port}"], interval=INTERVAL).start()
    with busy(cores):
        try:
            time.sleep(1.5)
            sandbox.toxiproxy.set_enabled("ingress-0", False)
            cut = time.monotonic()
            time.sleep(3.0)
            sandbox.toxiproxy.set_enabled("ingress-0", True)
            healed = time.monotonic()
            time.sleep(1.5)
        finally:
            prober.stop()
    samples = prober.samples()
    [incident] = incidents(sustained_outages(samples, consecutive=5))
    assert incident.duration_s is not None
    assert abs(incident.start - cut) <= 2 * INTERVAL
    assert abs(incident.duration_s - (healed - cut)) <= 2 * INTERVAL
    rto = measure_rto(samples, streams=prober.streams, fault_at=cut, consecutive=5, budget_s=30, component="app")
    assert rto.measured_s is not None
    assert abs(rto.measured_s - (healed - cut)) <= 2 * INTERVAL
    assert not prober.skipped


def test_acknowledged_writes_deleted_behind_the_apps_back_are_lost_exactly(sandbox: LocalTarget) -> None:
    endpoints = sandbox.endpoints
    writer = Writer(endpoints.apps, WORKLOADS["calendar_events"], run_id="truth", rate=200).start()
    wait_for(lambda: writer.acked_count() >= 150, what="150 acknowledged writes", timeout=20)
    writer.stop()
    acked = [record for record in writer.log() if record.outcome is Outcome.ACKED]
    doomed = {acked[i].id for i in (3, 17, 40, 41, 42, 99, len(acked) - 1)}
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(endpoints.mongodb_uri)
    try:
        client[endpoints.database].events.delete_many({"_id": {"$in": sorted(doomed)}})
    finally:
        client.close()
    fault_wall = time.time()
    found = read_tracked(writer.workload, mongodb_uri=endpoints.mongodb_uri, redis_url=endpoints.redis_url,
                         database=endpoints.database, id_prefix=writer.id_prefix)  # fmt: skip
    loss = classify_writes(writer.log(), found, data_class="calendar_events", outages=[(fault_wall, None)],
                           budget_s=3600)  # fmt: skip
    assert set(loss.ids["lost"]) == doomed
    assert loss.lost == len(doomed)
    assert loss.acked == len(acked)
    assert (loss.recovered, loss.unexpected, loss.duplicated, loss.corrupted) == (0, 0, 0, 0)
    oldest = min(record.done_wall for record in acked if record.id in doomed)
    assert loss.window_s == pytest.approx(fault_wall - oldest)


def test_sessions_are_accounted_from_redis(sandbox: LocalTarget) -> None:
    endpoints = sandbox.endpoints
    writer = Writer(endpoints.apps, WORKLOADS["sessions"], run_id="truth", rate=200).start()
    wait_for(lambda: writer.acked_count() >= 50, what="50 acknowledged sessions", timeout=20)
    writer.stop()
    found = read_tracked(writer.workload, mongodb_uri=endpoints.mongodb_uri, redis_url=endpoints.redis_url,
                         database=endpoints.database, id_prefix=writer.id_prefix)  # fmt: skip
    loss = classify_writes(writer.log(), found, data_class="sessions", outages=[(time.time(), None)], budget_s=60)
    assert loss.acked >= 50
    assert (loss.lost, loss.corrupted) == (0, 0)


def test_slow_but_successful_answers_are_not_an_outage(sandbox: LocalTarget) -> None:
    # 8 ms ± 2 ms added to every MongoDB reply: slower, well inside the probe deadline. Toxiproxy draws the
    # jitter from [-2, +2) ms, so no reply comes back in less than 6 ms.
    sandbox.toxiproxy.add_toxic("mongodb", "slow", "latency", {"latency": 8, "jitter": 2})
    prober = Prober(sandbox.endpoints.apps, interval=INTERVAL).start()
    try:
        time.sleep(3.0)
    finally:
        prober.stop()
        sandbox.toxiproxy.remove_toxic("mongodb", "slow")
    samples = prober.samples()
    assert min(sample.latency_s for sample in samples if sample.check == "health") >= 0.006  # the toxic is there
    assert sustained_outages(samples, consecutive=5) == []
    assert sum(sample.ok for sample in samples) / len(samples) >= 0.95


def test_a_toxic_that_did_not_take_is_reported(sandbox: LocalTarget) -> None:
    with pytest.raises(ToxiproxyError, match="proxy not found"):
        sandbox.toxiproxy.add_toxic("no-such-link", "slow", "latency", {"latency": 10})


def test_health_checks_that_time_out_count_in_the_latency_percentile(sandbox: LocalTarget, front: Front) -> None:
    """Every third health check outlasts the probe's timeout: the p95 of the health checks is at least the timeout."""
    slow = front(
        sandbox.endpoints.apps[0], lambda path, nth: (0.3 if path == "/health" and nth % 3 == 0 else 0.0, None)
    )
    prober = Prober([slow], interval=INTERVAL, timeout=0.1, checks=("health",)).start()
    time.sleep(3.0)
    prober.stop()
    samples = prober.samples()
    timed_out = [sample for sample in samples if sample.timed_out]
    assert len(timed_out) >= len(samples) // 5
    answered = percentile(sorted(s.latency_s for s in samples if s.ok), 95)
    assert answered is not None
    assert answered < prober.timeout  # what a percentile of the answers alone would report
    p95 = percentile(latencies(samples, timeout=prober.timeout), 95)
    assert p95 is not None
    assert p95 >= prober.timeout


def test_the_final_read_waits_while_the_store_refuses_and_reads_once_it_answers(sandbox: LocalTarget) -> None:
    # A Service whose endpoints lag behind a pod restarted in place refuses connections for a while.
    workload = WORKLOADS["sessions"]
    direct = urlsplit(sandbox.endpoints.redis_url)
    store = redis.Redis.from_url(sandbox.endpoints.redis_url)
    try:
        store.set(f"{workload.location}lagread-1", "owner-1")
    finally:
        store.close()
    port = free_port()
    relays: list[Relay] = []
    opens = threading.Timer(1.5, lambda: relays.append(Relay(lambda: (direct.hostname or "", direct.port or 0),
                                                               port=port)))  # fmt: skip
    lagging = direct._replace(netloc=direct.netloc.replace(f":{direct.port}", f":{port}")).geturl()
    started = time.monotonic()
    opens.start()
    try:
        found = read_tracked(workload, mongodb_uri=sandbox.endpoints.mongodb_uri, redis_url=lagging,
                             database=sandbox.endpoints.database, id_prefix="lagread-")  # fmt: skip
    finally:
        opens.join()
        for relay in relays:
            relay.close()
    assert found == [("lagread-1", {"user_id": "owner-1"})]
    assert time.monotonic() - started >= 1.5  # refused until the address opened, then read
