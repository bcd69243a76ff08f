"""Steps that measure the drill from the outside and judge it against the budgets."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import TYPE_CHECKING, Any

import pytest
from pytest_bdd import parsers, then, when

from chaos.measure.availability import AvailabilityMeasurement, measure_availability
from chaos.measure.data_loss import DataLossMeasurement, classify_writes
from chaos.measure.final_read import read_tracked
from chaos.measure.latency import latencies, percentile
from chaos.measure.monitoring import measure_monitoring_rto
from chaos.measure.rto import BLIP_RUN, RtoMeasurement, failure_runs, measure_rto, rto_phases, sustained_outages
from chaos.measure.verdict import Verdict, worst
from chaos.report.record import Judgement
from chaos.servers.prometheus import SCRAPE_INTERVAL_S
from fixtures.dry_run import PlanContext, planned

if TYPE_CHECKING:
    from chaos.config import Budgets
    from chaos.faults import Kill
    from chaos.measure.monitoring import MonitoringWatcher
    from chaos.measure.probe import Prober, ProbeSample
    from chaos.measure.workload import Writer
    from chaos.report.record import DrillRecord
    from chaos.targets.base import Target


def _words_to_key(words: str) -> str:
    return words.strip().lower().replace(" ", "_")


def _judge(verdict: Verdict, reason: str) -> None:
    if verdict is Verdict.UNKNOWN:
        pytest.fail(f"inconclusive (verdict unknown): {reason}", pytrace=False)
    assert verdict is Verdict.PASSED, reason


KEEP_WRITING = parsers.parse("the writers keep writing for {seconds:g} seconds")
KEEP_WRITING_RPO = parsers.parse("the writers keep writing for longer than the {data_class} RPO")
RTO = parsers.parse("every replica answers {count:d} consecutive probes within the {component} RTO")
RPO = parsers.parse("the acknowledged writes lost are within each data class's RPO")


@when(planned(KEEP_WRITING, lambda a, c: f"WAIT {a['seconds']:g}s while the writers write"))
def keep_writing(writers: dict[str, Writer], seconds: float) -> None:
    before = {name: writer.acked_count() for name, writer in writers.items()}
    time.sleep(seconds)
    idle = [name for name, writer in writers.items() if writer.acked_count() <= before[name]]
    assert not idle, f"no write was acknowledged in {seconds:g}s for {', '.join(idle)}: the workload is not running"


def _longer_than_rpo(budgets: Budgets, data_class: str) -> float:
    """One RPO and half of one more: a drill that writes this long loses more than its RPO when it restores any
    backup but one taken in the last half RPO before the fault, such as the newest of a schedule every half RPO;
    the first one never fits."""
    return budgets.rpo_for(_words_to_key(data_class)) * 1.5


@when(planned(KEEP_WRITING_RPO, lambda a, c: f"WAIT {_longer_than_rpo(c.budgets, a['data_class']):g}s (1.5 times "
                                             f"the {a['data_class']} RPO) while the writers write"))  # fmt: skip
def keep_writing_past_the_rpo(writers: dict[str, Writer], budgets: Budgets, data_class: str) -> None:
    keep_writing(writers, _longer_than_rpo(budgets, data_class))


def _describe_rto(args: dict[str, Any], context: PlanContext) -> str:
    budget = context.budgets.rto_for(_words_to_key(args["component"]))
    return (f"CHECK RTO: fault -> every probe stream healthy {args['count']} times in a row, "
            f"within the {args['component']} budget of {budget:g}s")  # fmt: skip


def _describe_rpo(args: dict[str, Any], context: PlanContext) -> str:
    budgets = ", ".join(f"{name} {context.budgets.rpo_for(name):g}s" for name in context.scenario.get("tracked", []))
    return (f"CHECK RPO: read every tracked write back from the stores; data-loss window per data class "
            f"within its budget ({budgets}); no corrupted, duplicated or unexpected records")  # fmt: skip


@then(planned(RTO, _describe_rto))
def recovered_within_rto(
    prober: Prober, drill: DrillRecord, budgets: Budgets, target: Target, count: int, component: str
) -> None:
    """Wait until recovery is confirmed or the budget has run out, then judge the RTO."""
    key = _words_to_key(component)
    budget = budgets.rto_for(key)
    fault = drill.timeline.first("fault_injected")
    assert fault is not None, "no fault was injected before waiting for recovery"

    landed = [moment.mono for moment in drill.timeline.moments() if moment.name == "fault_observed"]

    def measure() -> RtoMeasurement:
        return measure_rto(prober.samples(), streams=prober.streams, fault_at=fault.mono, consecutive=count,
                           budget_s=budget, component=key, not_before=max(landed, default=None))  # fmt: skip

    # Past the budget plus the time to confirm, the verdict cannot change.
    deadline = fault.mono + budget + count * prober.interval + prober.timeout
    rto = measure()
    while rto.stable_at is None and time.monotonic() < deadline:
        time.sleep(prober.interval)
        rto = measure()
    _platform_recovery(target, prober, drill, fault.wall)
    phases = rto_phases(rto, drill.timeline.moments())
    drill.rto = dataclasses.replace(rto, phases=phases)
    drill.outages = [window for window in sustained_outages(prober.samples(), consecutive=count)
                     if window.start >= fault.mono]  # fmt: skip
    if rto.first_failed_at is not None:
        drill.timeline.mark("first_failed_probe", mono=rto.first_failed_at)
    if rto.first_success_at is not None:
        drill.timeline.mark("first_success", mono=rto.first_success_at)
    if rto.back_at is not None and rto.stable_at is not None:
        drill.timeline.mark("stable", mono=rto.back_at, confirmed_after_s=round(rto.stable_at - rto.back_at, 3))
    _judge(rto.verdict, rto.reason)


# The local supervisor's, Docker's and Kubernetes' words for a replica brought back (Kubernetes: "restarted" for
# a container restarted in its pod, "started" for the container of a pod that replaced a deleted one).
RESTARTS = ("restarted", "start", "started")


def _platform_recovery(target: Target, prober: Prober, drill: DrillRecord, since: float) -> None:
    """Put what the platform did on the timeline; a recovery nobody ran is the platform's own.

    Every platform event after the fault becomes a moment ``platform:<event>``. When no procedure
    marked its recovery, the platform's first restart of a replica is ``recovery_started`` and
    that replica's first successful probe after it ``recovery_finished``.
    """
    events = sorted((event for event in target.platform_events() if event.wall >= since), key=lambda e: e.wall)
    for event in events:
        drill.timeline.mark(f"platform:{event.name}", wall=event.wall, component=event.component,
                            replica=event.replica, detail=event.detail)  # fmt: skip
    restart = next((event for event in events if event.name in RESTARTS and event.component == "app"), None)
    if restart is None or drill.timeline.first("recovery_started") is not None:
        return
    drill.timeline.mark("recovery_started", wall=restart.wall,
                        procedure=f"{restart.replica} {restart.name} {restart.detail}")  # fmt: skip
    index = int(restart.replica.rsplit("-", 1)[1]) if restart.replica.rsplit("-", 1)[-1].isdigit() else -1
    url = prober.urls[index] if 0 <= index < len(prober.urls) else None
    answered = next((s for s in prober.samples() if s.target == url and s.ok and s.wall >= restart.wall), None)
    if answered is not None:
        drill.timeline.mark("recovery_finished", mono=answered.mono, wall=answered.wall, ok=True,
                            procedure=f"{restart.replica} answered")  # fmt: skip


def _restored_from(drill: DrillRecord, store: str) -> float | None:
    """When (wall) the backup the recovery restored ``store`` from began; None when it restored none, or
    the drill recorded no backup of that store before its recovery began."""
    if not any(step.ok and step.name.lower().startswith(f"restore {store}") for step in drill.recovery_steps):
        return None
    started, chosen = drill.timeline.first("recovery_started"), drill.timeline.first("backup_chosen")
    backups = [moment for moment in drill.timeline.moments()
               if moment.name == "backup_taken" and store in moment.detail.get("stores", ())
               and (chosen is None or moment.detail.get("backup") == chosen.detail.get("backup"))
               and (started is None or moment.mono <= started.mono)]  # fmt: skip
    return backups[-1].wall if backups else None


def _account(target: Target, writer: Writer, drill: DrillRecord, budget_s: float) -> DataLossMeasurement:
    fault = drill.timeline.first("fault_injected")
    assert fault is not None, "no fault was injected before counting lost writes"
    endpoints = target.endpoints
    found = read_tracked(writer.workload, mongodb_uri=endpoints.mongodb_uri, redis_url=endpoints.redis_url,
                         database=endpoints.database, id_prefix=writer.id_prefix)  # fmt: skip
    loss = classify_writes(writer.log(), found, data_class=writer.data_class, outages=[(fault.wall, None)],
                           budget_s=budget_s, restored_from=_restored_from(drill, writer.workload.store))  # fmt: skip
    name = f"classification-{writer.data_class}.json"
    (drill.evidence_dir / name).write_text(json.dumps(loss.classification(), indent=1))
    drill.evidence.append(name)
    return loss


@then(planned(RPO, _describe_rpo))
def data_loss_within_budgets(target: Target, writers: dict[str, Writer], drill: DrillRecord, budgets: Budgets) -> None:
    for writer in writers.values():
        writer.stop()
    for data_class, writer in writers.items():
        budget = budgets.rpo_for(data_class)
        try:
            drill.rpo[data_class] = _account(target, writer, drill, budget)
        except Exception as exc:  # a checker that crashes yields unknown, never a pass
            reason = f"final read failed: {type(exc).__name__}: {exc}"
            drill.rpo[data_class] = DataLossMeasurement.inconclusive(data_class, writer.log(), budget, reason)
    verdict = worst(loss.verdict for loss in drill.rpo.values())
    _judge(verdict, "; ".join(f"{name}: {loss.reason}" for name, loss in drill.rpo.items()))


NOTHING_LOST = parsers.parse("no acknowledged write is lost")
LATENCY = parsers.parse("the service stayed up, answering health checks within {ms:d} ms at the 95th percentile")
# "Stayed up": no probe stream failed more than BLIP_RUN times in a row — a lone slow answer on a
# loaded 2-core machine is not an outage (see chaos.watch).
OTHERS_SERVE = parsers.parse("the other replicas kept answering throughout")
SESSIONS_BOUND = parsers.parse("the acknowledged sessions lost reach back at most {bound:g} seconds")


@then(planned(NOTHING_LOST, lambda a, c: "CHECK read every tracked write back: none acknowledged is missing, "
                                         "none corrupted, duplicated or unexpected"))  # fmt: skip
def nothing_lost(target: Target, writers: dict[str, Writer], drill: DrillRecord, budgets: Budgets) -> None:
    for writer in writers.values():
        writer.stop()
    for data_class, writer in writers.items():
        drill.rpo[data_class] = _account(target, writer, drill, 0.0)
    lost = {name: loss.lost for name, loss in drill.rpo.items() if loss.lost}
    verdict = worst(loss.verdict for loss in drill.rpo.values())
    _judge(verdict, "; ".join(f"{name}: {loss.reason}" for name, loss in drill.rpo.items()))
    assert not lost, f"acknowledged writes lost: {lost}"


def _fault_window(drill: DrillRecord) -> tuple[float, float]:
    start, end = drill.timeline.first("fault_injected"), drill.timeline.first("fault_reverted")
    assert start is not None, "no fault was injected"
    assert end is not None, "the fault has not ended; give it a duration (`for N seconds`)"
    return start.mono, end.mono


def _availability(
    samples: list[ProbeSample], replicas: list[str], budgets: Budgets, drill: DrillRecord, name: str
) -> AvailabilityMeasurement:
    """Each replica's worst window of failed probes against the availability budget, recorded."""
    budget = budgets.availability
    result = measure_availability(samples, replicas=replicas, max_failed=budget.max_failed, window_s=budget.window_s)
    drill.availability[name] = result
    return result


@then(planned(LATENCY, lambda a, c: f"CHECK while the fault lasted: no stream down (more than {BLIP_RUN} failed "
                                    f"probes in a row), {c.budgets.availability.describe()}, health p95 "
                                    f"<= {a['ms']} ms (a timed-out probe counts as its timeout)"))  # fmt: skip
def latency_budget(prober: Prober, drill: DrillRecord, budgets: Budgets, ms: int) -> None:
    start, end = _fault_window(drill)
    during = [sample for sample in prober.samples() if start <= sample.mono <= end]
    failed = [sample for sample in during if not sample.ok]
    longest = max((window.failed_samples for window in failure_runs(during)), default=0)
    availability = _availability(during, list(prober.urls), budgets, drill, "while the fault lasted")
    p95 = percentile(latencies(during, timeout=prober.timeout), 95)
    if p95 is None:
        verdict, reason = Verdict.UNKNOWN, "no health probe answered or timed out while the fault lasted"
    else:
        ok = longest <= BLIP_RUN and p95 * 1000 <= ms and availability.verdict is Verdict.PASSED
        verdict = Verdict.PASSED if ok else Verdict.FAILED
        reason = (f"{len(failed)} of {len(during)} probes failed, at most {longest} in a row; health p95 "
                  f"{p95 * 1000:.1f} ms (budget {ms} ms); availability {availability.verdict.value}: "
                  f"{availability.reason}")  # fmt: skip
    drill.judgements.append(Judgement("latency budget", verdict, reason))
    _judge(verdict, reason)


def _describe_others(args: dict[str, Any], context: PlanContext) -> str:
    return (f"CHECK from the fault until recovery was confirmed, the replicas not killed answered "
            f"(no more than {BLIP_RUN} failed probes in a row; {context.budgets.availability.describe()})")  # fmt: skip


@then(planned(OTHERS_SERVE, _describe_others))
def others_keep_serving(prober: Prober, drill: DrillRecord, budgets: Budgets, fault: Kill) -> None:
    start = drill.timeline.first("fault_injected")
    assert start is not None, "no fault was injected"
    stable = drill.rto.stable_at if drill.rto is not None and drill.rto.stable_at is not None else None
    assert stable is not None, "recovery was not confirmed: nothing to check the other replicas over"
    killed = {prober.urls[index] for index in fault.replicas_hit()}
    survivors = [url for url in prober.urls if url not in killed]
    samples = [s for s in prober.samples() if start.mono <= s.mono <= stable and s.target in survivors]
    runs = [w.failed_samples for w in failure_runs(samples)]
    longest = max(runs, default=0)
    availability = _availability(samples, survivors, budgets, drill, "replicas not killed")
    ok = bool(survivors) and bool(samples) and longest <= BLIP_RUN and availability.verdict is Verdict.PASSED
    reason = (f"{len(survivors)} replicas not killed; longest run of failed probes among them: {longest} "
              f"over {len(samples)} probes; availability {availability.verdict.value}: "
              f"{availability.reason}")  # fmt: skip
    drill.judgements.append(Judgement("others keep serving", Verdict.PASSED if ok else Verdict.FAILED, reason))
    assert ok, reason


@then(planned(SESSIONS_BOUND, lambda a, c: f"CHECK sessions read back from Redis: data-loss window <= {a['bound']:g}s"))
def sessions_loss_bounded(target: Target, writers: dict[str, Writer], drill: DrillRecord, bound: float) -> None:
    writer = writers["sessions"]
    writer.stop()
    loss = _account(target, writer, drill, bound)
    drill.rpo["sessions"] = loss
    _judge(loss.verdict, loss.reason)


MONITORING_RTO = parsers.parse("Prometheus scrapes every replica successfully again within the monitoring RTO")
MONITORING_SCRAPES = 2  # successful scrapes of every replica that confirm monitoring is back


def _describe_monitoring(args: dict[str, Any], context: PlanContext) -> str:
    return (f"CHECK monitoring RTO: fault -> the first successful scrape of every replica, confirmed by "
            f"{MONITORING_SCRAPES} in a row each, within the monitoring budget of "
            f"{context.budgets.rto_for('monitoring'):g}s")  # fmt: skip


@then(planned(MONITORING_RTO, _describe_monitoring))
def monitoring_recovered(target: Target, monitoring: MonitoringWatcher, drill: DrillRecord, budgets: Budgets) -> None:
    """Wait until every replica of the deployment is scraped again, or the budget has run out; judge."""
    budget = budgets.rto_for("monitoring")
    fault = drill.timeline.first("fault_injected")
    assert fault is not None, "no fault was injected before waiting for monitoring"

    def measure() -> RtoMeasurement:
        # The replicas as monitoring knows them: the same ones as before the fault, unless the platform
        # replaced them all by as many others (on Kubernetes a new pod has a new address).
        now = set(target.endpoints.monitored)
        expected = now if len(now) == len(monitoring.expected) else monitoring.expected
        return measure_monitoring_rto(monitoring.samples(), expected=expected, fault_at=fault.mono,
                                      fault_wall=fault.wall, budget_s=budget, scrape_interval=SCRAPE_INTERVAL_S,
                                      scrapes=MONITORING_SCRAPES)  # fmt: skip

    deadline = fault.mono + budget + (MONITORING_SCRAPES + 1) * SCRAPE_INTERVAL_S
    rto = measure()
    while rto.stable_at is None and time.monotonic() < deadline:
        time.sleep(monitoring.interval)
        rto = measure()
    drill.rto = dataclasses.replace(rto, phases=rto_phases(rto, drill.timeline.moments()))
    if rto.back_at is not None:
        drill.timeline.mark("monitoring_back", mono=rto.back_at)
    _judge(rto.verdict, rto.reason)
