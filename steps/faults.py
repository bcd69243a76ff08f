"""Steps that inject faults: each one recorded in the ledger, observed by its effect, reverted at teardown.

A fault whose effect is not seen stops the scenario as inconclusive: the drill
cannot say anything about a recovery from a fault that did not happen.
"""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING

import pytest
from pytest_bdd import parsers, when

from chaos.errors import FaultNotObservedError, SafetyError
from chaos.faults import (
    BadRelease,
    Disconnect,
    DiskCorruption,
    Kill,
    MongoCorruption,
    Partition,
    Pause,
    PodDelete,
    RedisCorruption,
    SystemFailure,
    Toxic,
)
from chaos.measure.workload import Outcome
from chaos.targets.base import is_running
from fixtures.dry_run import planned

if TYPE_CHECKING:
    from collections.abc import Iterator

    from chaos.faults import Fault, Ledger
    from chaos.measure.workload import Writer
    from chaos.report.record import DrillRecord
    from chaos.targets.base import Target
    from chaos.targets.config import TargetConfig

STORES = {"MongoDB": "mongodb", "Redis": "redis"}
LINKS = {"MongoDB": "mongodb", "Redis": "redis"}
COLLECTIONS = {"users": "users", "calendar events": "events", "settings": "settings"}


def inject(fault: Fault, drill: DrillRecord) -> Fault:
    """Mark the fault on the timeline, inject it, and confirm its effect; inconclusive if not seen."""
    drill.timeline.mark("fault_injected", fault=fault.kind, description=fault.describe())
    try:
        fault.inject()
    except FaultNotObservedError as exc:
        drill.notes.append(f"fault did not land: {exc}")
        fault.revert()
        pytest.fail(f"inconclusive (verdict unknown): fault did not land: {exc}", pytrace=False)
    except SafetyError as exc:
        drill.notes.append(f"fault refused before anything was injected: {exc}")
        fault.revert()
        raise
    except BaseException:
        fault.revert()
        raise
    drill.timeline.mark("fault_observed", fault=fault.kind)
    return fault


def _held(fault: Fault, drill: DrillRecord) -> Iterator[Fault]:
    try:  # from the moment it starts to inject: an interrupt may land anywhere after that
        inject(fault, drill)
        yield fault
    finally:
        fault.revert()


def _held_for(fault: Fault, drill: DrillRecord, seconds: float) -> Iterator[Fault]:
    """Hold the fault for ``seconds`` inside the step, revert it, and mark when it ended."""
    try:
        inject(fault, drill)
        time.sleep(seconds)
    finally:
        fault.revert()
    drill.timeline.mark("fault_reverted", fault=fault.kind)
    yield fault


# -- processes ------------------------------------------------------------------------------------------
STORE_KILLED = parsers.parse("the {store} server is killed")


@when(planned(STORE_KILLED, lambda a, c: f"FAULT kill: SIGKILL to the {a['store']} server (1 process), "
                                         "observed gone and refusing connections"))  # fmt: skip
def store_killed(target: Target, drill: DrillRecord, ledger: Ledger, store: str) -> Iterator[Fault]:
    yield from _held(Kill(target, STORES[store], ledger=ledger), drill)


STORE_STOPPED = parsers.parse("the {store} server is stopped")


@when(planned(STORE_STOPPED, lambda a, c: f"FAULT stop: SIGTERM to the {a['store']} server (1 process), "
                                          "observed gone and refusing connections"))  # fmt: skip
def store_stopped(target: Target, drill: DrillRecord, ledger: Ledger, store: str) -> Iterator[Fault]:
    yield from _held(Kill(target, STORES[store], signal_name="SIGTERM", ledger=ledger), drill)


STORE_HANGS = parsers.parse("the {store} server hangs for {seconds:g} seconds")


@when(planned(STORE_HANGS, lambda a, c: f"FAULT pause: the {a['store']} server frozen for {a['seconds']:g}s (it "
                                        "keeps its connections and answers nothing), observed not answering; "
                                        "thawed and seen answering", needs=("pause",)))  # fmt: skip
def store_hangs(target: Target, drill: DrillRecord, ledger: Ledger, store: str, seconds: float) -> Iterator[Fault]:
    yield from _held_for(Pause(target, STORES[store], ledger=ledger), drill, seconds)


STORE_CUT_OFF = parsers.parse("the {store} server is taken off its network for {seconds:g} seconds")


@when(planned(STORE_CUT_OFF, lambda a, c: f"FAULT network disconnect: the {a['store']} server off its network "
                                          f"for {a['seconds']:g}s, no proxy in between; observed unreachable, "
                                          "reconnected and seen answering", needs=("network-disconnect",)))  # fmt: skip
def store_cut_off(target: Target, drill: DrillRecord, ledger: Ledger, store: str, seconds: float) -> Iterator[Fault]:
    yield from _held_for(Disconnect(target, STORES[store], ledger=ledger), drill, seconds)


REPLICAS_KILLED = parsers.re(
    r"(?P<which>one app replica is|all app replicas are|(?P<percent>\d+)% of the app replicas are) "
    r"killed(?: with (?P<signal>SIGKILL|SIGTERM))?"
)


def _replicas(which: str, percent: str | None) -> str | float:
    if percent:
        return int(percent) / 100
    return "one" if which.startswith("one") else "all"


def _describe_replicas(args: dict[str, str], context: object) -> str:
    target: TargetConfig = context.target  # type: ignore[attr-defined]
    replicas = _replicas(args["which"], args.get("percent"))
    count = {"one": 1, "all": target.replicas}.get(replicas) if isinstance(replicas, str) else None
    how_many = count if count is not None else f"{replicas:.0%} (rounded up) of {target.replicas}"
    return (f"FAULT kill: {args.get('signal') or 'SIGKILL'} to {how_many} app replica(s); blast radius "
            f"{target.blast_radius.max_replicas} replicas / {target.blast_radius.max_fraction:.0%}")  # fmt: skip


@when(planned(REPLICAS_KILLED, _describe_replicas), target_fixture="fault")
def replicas_killed(
    target: Target, drill: DrillRecord, ledger: Ledger, target_config: TargetConfig,
    which: str, percent: str | None, signal: str | None,
) -> Iterator[Fault]:  # fmt: skip
    fault = Kill(target, "app", replicas=_replicas(which, percent), signal_name=signal or "SIGKILL",
                 blast_radius=target_config.blast_radius, ledger=ledger)  # fmt: skip
    yield from _held(fault, drill)


PODS_DELETED = parsers.re(
    r"(?P<which>one app pod is|all app pods are|(?P<percent>\d+)% of the app pods are) deleted"
    r"(?P<graceful> gracefully)?"
)


def _describe_pods(args: dict[str, str], context: object) -> str:
    target: TargetConfig = context.target  # type: ignore[attr-defined]
    replicas = _replicas(args["which"], args.get("percent"))
    count = {"one": 1, "all": target.replicas}.get(replicas) if isinstance(replicas, str) else None
    how_many = count if count is not None else f"{replicas:.0%} (rounded up) of {target.replicas}"
    grace = "with the pod's grace period" if args.get("graceful") else "with no grace period"
    return (f"FAULT pod delete: {how_many} app pod(s) deleted through the Kubernetes API {grace}; observed gone "
            f"from the API; blast radius {target.blast_radius.max_replicas} replicas / "
            f"{target.blast_radius.max_fraction:.0%}")  # fmt: skip


@when(planned(PODS_DELETED, _describe_pods, needs=("pods",)), target_fixture="fault")
def pods_deleted(
    target: Target, drill: DrillRecord, ledger: Ledger, target_config: TargetConfig,
    which: str, percent: str | None, graceful: str | None,
) -> Iterator[Fault]:  # fmt: skip
    fault = PodDelete(target, "app", replicas=_replicas(which.replace("pod", "replica"), percent),
                      signal_name="SIGTERM" if graceful else "SIGKILL", blast_radius=target_config.blast_radius,
                      ledger=ledger)  # fmt: skip
    yield from _held(fault, drill)


EVERYTHING_KILLED = parsers.parse("every component of the system is killed")


@when(planned(EVERYTHING_KILLED, lambda a, c: "FAULT complete system failure: SIGKILL to every process at once "
                                              f"(MongoDB, Redis, Toxiproxy, Prometheus, all {c.target.replicas} app "
                                              "replicas), nothing restarted; blast radius "
                                              f"{c.target.blast_radius.max_replicas} replicas; observed gone and "
                                              "refusing connections"))  # fmt: skip
def everything_killed(
    target: Target, drill: DrillRecord, ledger: Ledger, target_config: TargetConfig
) -> Iterator[Fault]:
    yield from _held(SystemFailure(target, blast_radius=target_config.blast_radius, ledger=ledger), drill)


# -- network --------------------------------------------------------------------------------------------
LINK_CUT = parsers.re(r"the link to (?P<link>MongoDB|Redis) is cut(?: for (?P<seconds>[\d.]+) seconds)?")


def _describe_cut(args: dict[str, str], context: object) -> str:
    held = f" for {args['seconds']}s" if args.get("seconds") else " until teardown"
    return f"FAULT partition: the app's link to {args['link']} disabled in Toxiproxy{held}; observed refusing"


@when(planned(LINK_CUT, _describe_cut))
def link_cut(target: Target, drill: DrillRecord, ledger: Ledger, link: str, seconds: str | None) -> Iterator[Fault]:
    endpoints = target.endpoints
    fault = Partition(endpoints.toxiproxy_api, LINKS[link], reach=endpoints.proxies[LINKS[link]].get("reach"),
                      ledger=ledger)  # fmt: skip
    if seconds:
        yield from _held_for(fault, drill, float(seconds))
    else:
        yield from _held(fault, drill)


LINK_SLOW = parsers.re(
    r"the link to (?P<link>MongoDB|Redis) is slowed by (?P<latency>\d+) ms with (?P<jitter>\d+) ms of jitter"
    r"(?: for (?P<seconds>[\d.]+) seconds)?"
)


MIN_WRITES = 20  # writes on each side of the fault's start, at the least, to compare their median latency
BEFORE_S = 3.0  # how long before the fault the writers' latency is taken as its baseline


@when(planned(LINK_SLOW, lambda a, c: f"FAULT latency toxic on the link to {a['link']}: {a['latency']} ms "
                                      f"± {a['jitter']} ms, both directions"
                                      f"{' for ' + a['seconds'] + 's' if a.get('seconds') else ''}; "
                                      "read back from Toxiproxy and seen slowing the writers' writes"))  # fmt: skip
def link_slowed(
    target: Target, drill: DrillRecord, ledger: Ledger, request: pytest.FixtureRequest, link: str, latency: str,
    jitter: str, seconds: str | None,
) -> Iterator[Fault]:  # fmt: skip
    attributes = {"latency": int(latency), "jitter": int(jitter)}
    fault = Toxic(target.endpoints.toxiproxy_api, LINKS[link], "latency", attributes, stream="both", ledger=ledger)
    try:
        writers: dict[str, Writer] = request.getfixturevalue("writers")
    except pytest.FixtureLookupError:
        needed = "the scenario needs 'writers track ... through the app' before this step"
        raise AssertionError(f"a slowed link is seen by its effect on the writers' writes: {needed}") from None
    on_path = [writer for writer in writers.values() if writer.workload.store == STORES[link]]
    assert on_path, f"no writer writes to {link}: nothing would show the slowed link's effect"
    least_added_s = 2 * max(0, int(latency) - int(jitter)) / 1000  # one round trip, both directions delayed
    if seconds:
        try:
            inject(fault, drill)
            time.sleep(float(seconds))
            _seen_on_path(drill, on_path, least_added_s)
        finally:
            fault.revert()
        drill.timeline.mark("fault_reverted", fault=fault.kind)
        yield fault
    else:
        try:
            inject(fault, drill)
            time.sleep(BEFORE_S)  # long enough for the writers to show it
            _seen_on_path(drill, on_path, least_added_s)
            yield fault
        finally:
            fault.revert()


def _seen_on_path(drill: DrillRecord, writers: list[Writer], least_added_s: float) -> None:
    """The slowed link seen where the drill measures: the writers' writes through the app, each at least one
    round trip over the link, slower since the toxic than in the seconds before the fault.

    Reading the toxic back from Toxiproxy says it exists, not that the app's traffic crosses it. Every write
    crosses the link at least once, so it is slower by ``least_added_s`` or more; the median of the writes
    since the toxic was read back must exceed the median of those before the fault by half of that, the rest
    left to the machine's own drift between two medians of many writes each.
    """
    injected, observed = drill.timeline.first("fault_injected"), drill.timeline.first("fault_observed")
    assert injected is not None, "the toxic was not injected"
    assert observed is not None, "the toxic was not read back"
    until = time.monotonic()
    acked = [record for writer in writers for record in writer.log() if record.outcome is Outcome.ACKED]
    before = [r.done_mono - r.sent_mono for r in acked
              if injected.mono - BEFORE_S <= r.sent_mono and r.done_mono < injected.mono]  # fmt: skip
    during = [r.done_mono - r.sent_mono for r in acked if r.sent_mono >= observed.mono and r.done_mono <= until]
    need = least_added_s / 2
    if min(len(before), len(during)) < MIN_WRITES or need <= 0:
        problem = (f"{len(before)} writes in the {BEFORE_S:g}s before the fault and {len(during)} while it held "
                   f"(at least {MIN_WRITES} each), and the toxic adds at least {least_added_s * 1000:g} ms: too "
                   "little to tell whether the app's traffic crosses the slowed link")  # fmt: skip
    else:
        shift = statistics.median(during) - statistics.median(before)
        seen = (f"median write {statistics.median(before) * 1000:.1f} ms before the fault, "
                f"{statistics.median(during) * 1000:.1f} ms while it held ({len(before)} and {len(during)} "
                f"writes): {shift * 1000:+.1f} ms, at least {need * 1000:g} ms needed")  # fmt: skip
        if shift >= need:
            drill.timeline.mark("fault_seen_on_path", shift_ms=round(shift * 1000, 2))
            drill.notes.append(f"slowed link seen on the writers' path: {seen}")
            return
        problem = f"the writers' writes were not slowed: {seen}; the app's traffic does not cross the slowed link"
    drill.notes.append(f"fault did not land: {problem}")
    pytest.fail(f"inconclusive (verdict unknown): fault did not land: {problem}", pytrace=False)


LINK_HANGS = parsers.parse("the link to {link} stops answering")


@when(planned(LINK_HANGS, lambda a, c: f"FAULT timeout toxic on the link to {a['link']}: data held, never "
                                       "delivered; read back from Toxiproxy"))  # fmt: skip
def link_hangs(target: Target, drill: DrillRecord, ledger: Ledger, link: str) -> Iterator[Fault]:
    fault = Toxic(target.endpoints.toxiproxy_api, LINKS[link], "timeout", {"timeout": 0}, stream="both", ledger=ledger)
    yield from _held(fault, drill)


# -- data -----------------------------------------------------------------------------------------------
GARBLED = parsers.parse("{percent:d}% of the {collection} documents are garbled")


@when(planned(GARBLED, lambda a, c: f"FAULT corruption: garble every field of {a['percent']}% of the "
                                    f"{a['collection']} documents; originals kept in the ledger"))  # fmt: skip
def documents_garbled(
    target: Target, drill: DrillRecord, ledger: Ledger, percent: int, collection: str
) -> Iterator[Fault]:
    endpoints = target.endpoints
    fault = MongoCorruption(endpoints.mongodb_uri, endpoints.database, COLLECTIONS[collection], "garble",
                            percent=percent, ledger=ledger)  # fmt: skip
    yield from _held(fault, drill)


DELETED = parsers.parse("{count:d} {collection} documents are deleted behind the app's back")


@when(planned(DELETED, lambda a, c: f"FAULT corruption: delete {a['count']} {a['collection']} documents "
                                    "directly in MongoDB; originals kept in the ledger"))  # fmt: skip
def documents_deleted(
    target: Target, drill: DrillRecord, ledger: Ledger, count: int, collection: str
) -> Iterator[Fault]:
    endpoints = target.endpoints
    fault = MongoCorruption(endpoints.mongodb_uri, endpoints.database, COLLECTIONS[collection], "delete",
                            count=count, ledger=ledger)  # fmt: skip
    yield from _held(fault, drill)


DROPPED = parsers.parse("the {collection} collection is dropped")


@when(planned(DROPPED, lambda a, c: f"FAULT corruption: drop the {a['collection']} collection; "
                                    "its documents and indexes kept in the ledger"))  # fmt: skip
def collection_dropped(target: Target, drill: DrillRecord, ledger: Ledger, collection: str) -> Iterator[Fault]:
    endpoints = target.endpoints
    fault = MongoCorruption(endpoints.mongodb_uri, endpoints.database, COLLECTIONS[collection], "drop", ledger=ledger)
    yield from _held(fault, drill)


REDIS_FLUSHED = parsers.parse("the Redis database is flushed")


@when(planned(REDIS_FLUSHED, lambda a, c: "FAULT corruption: FLUSHDB on Redis; every key kept (DUMP) in the ledger"))
def redis_flushed(target: Target, drill: DrillRecord, ledger: Ledger) -> Iterator[Fault]:
    yield from _held(RedisCorruption(target.endpoints.redis_url, "flush", ledger=ledger), drill)


REDIS_GARBAGE = parsers.parse("the Redis keys matching {pattern} are overwritten with garbage")


@when(planned(REDIS_GARBAGE, lambda a, c: f"FAULT corruption: overwrite Redis keys matching {a['pattern']} "
                                          "with random bytes; originals kept (DUMP) in the ledger"))  # fmt: skip
def redis_garbage(target: Target, drill: DrillRecord, ledger: Ledger, pattern: str) -> Iterator[Fault]:
    yield from _held(RedisCorruption(target.endpoints.redis_url, "garbage", pattern=pattern, ledger=ledger), drill)


FILES_CORRUPTED = parsers.re(
    r"the stopped (?P<store>MongoDB|Redis) server's data files are (?P<mode>flipped|truncated)"
)


@when(planned(FILES_CORRUPTED, lambda a, c: f"FAULT corruption: {a['mode']} the data files of the stopped "
                                            f"{a['store']} server; copies kept in the ledger",
              needs=("data-files",)))  # fmt: skip
def files_corrupted(target: Target, drill: DrillRecord, ledger: Ledger, store: str, mode: str) -> Iterator[Fault]:
    component = STORES[store]

    def stopped() -> bool:
        return not is_running(target, component)

    fault = DiskCorruption(target.data_files(component), "flip" if mode == "flipped" else "truncate",
                           is_stopped=stopped, ledger=ledger)  # fmt: skip
    yield from _held(fault, drill)


BAD_RELEASE = parsers.re(
    r"a bad release (?P<version>[\w.]+) that (?P<behaviour>returns errors|crashes at start) is deployed"
)
BEHAVIOURS = {"returns errors": "errors", "crashes at start": "crash"}


@when(planned(BAD_RELEASE, lambda a, c: f"FAULT bad release {a['version']} that {a['behaviour']}, rolled onto every "
                                        "replica; observed by its defect on the new release's replicas",
              needs=("releases",)))  # fmt: skip
def bad_release(target: Target, drill: DrillRecord, ledger: Ledger, version: str, behaviour: str) -> Iterator[Fault]:
    yield from _held(BadRelease(target, version, BEHAVIOURS[behaviour], ledger=ledger), drill)
