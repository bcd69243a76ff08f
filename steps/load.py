"""Steps that put simulated users on the calendar during a drill and judge what they saw."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from pytest_bdd import given, parsers, then

from chaos.measure.crowd import THINK_S, Crowd
from chaos.measure.load import error_rate, judge_error_rate, latency_recovery, load_summary, user_outage
from chaos.measure.verdict import Verdict
from chaos.report.plot import load_png
from chaos.report.record import Judgement
from chaos.wait import wait_for
from fixtures.dry_run import PlanContext, planned
from steps.measurement import _judge

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from chaos.config import Budgets
    from chaos.report.record import DrillRecord
    from chaos.targets.base import Target
    from chaos.targets.config import TargetConfig

USERS = parsers.parse("{users:d} users are using the calendar")
ERROR_RATE = parsers.parse("the error rate during recovery stays below {percent:g} %")
LATENCY = parsers.parse("p95 latency is back under {ms:g} ms within {seconds:g} seconds of recovery")
LATENCY_BUDGET = parsers.parse("p95 latency is back under its budget within {seconds:g} seconds of recovery")
MAX_USERS = 500
MIN_REQUESTS = 20  # a window with fewer user requests proves nothing about its error rate
# The error rate is judged from the fault to the recovery, over at least this long: a replica back in a second
# leaves too few requests in its own window to tell 5 % from 0 (50 users ask about 12 times a second).
MIN_WINDOW_S = 10.0
BIN_S = 2.0  # latency is judged per two seconds (50 users ask about 12 times a second: some 25 answers a bin);
# the recovery of latency is known to within one bin
CONFIRM_S = 6.0  # ... and counts once it has held for this long


def _to_wall(mono: float) -> float:
    return time.time() - (time.monotonic() - mono)


def _describe_users(args: dict[str, Any], context: PlanContext) -> str:
    where = "the app Service" if context.target.kind == "kubernetes" else "the replicas in turn"
    return (f"LOAD {args['users']} simulated users (locust, its own process) sign in, browse their week and create, "
            f"move and cancel events through {where}, {THINK_S[0]:g}-{THINK_S[1]:g} s between actions; every request "
            "logged")  # fmt: skip


@given(planned(USERS, _describe_users), target_fixture="crowd")
def users_on_the_calendar(
    target: Target, drill: DrillRecord, target_config: TargetConfig, users: int
) -> Iterator[Crowd]:
    if not 1 <= users <= MAX_USERS:
        raise AssertionError(f"{users} users: a drill's crowd is 1..{MAX_USERS} users")
    endpoints = target.endpoints
    urls = [endpoints.service] if endpoints.service else list(endpoints.apps)
    crowd = Crowd(urls, users, drill.evidence_dir, request_timeout=max(5.0, target_config.probe_timeout),
                  user_prefix=f"load-{drill.evidence_dir.name[:20]}")  # fmt: skip

    def all_signed_in() -> bool:
        crowd.check_running()
        return sum(r.ok and r.name == "sign in" for r in crowd.requests()) >= users

    try:  # started inside: an interrupt right after the start still stops it, with its statistics
        crowd.start()
        wait_for(all_signed_in, what=f"{users} simulated users to sign in", timeout=30 + users / 10)
        drill.timeline.mark("users_signed_in", users=users)
        yield crowd
    finally:
        code = crowd.stop()
        _report(crowd, drill, code)


def _recovery_wall(drill: DrillRecord) -> float | None:
    """When the service was back: every replica answering again as the prober saw it (the start of the run
    that confirmed it); in a drill that measures no RTO, the end of its recovery procedure."""
    if drill.rto is not None:
        return None if drill.rto.back_at is None else _to_wall(drill.rto.back_at)
    finished = drill.timeline.first("recovery_finished")
    return finished.wall if finished is not None else None


def _report(crowd: Crowd, drill: DrillRecord, code: int | None) -> None:
    requests = crowd.requests()
    drill.evidence += [name for name in ("user-requests.jsonl", "locust.log", "locust-stats.json", "locust_stats.csv",
                                         "locust_stats_history.csv", "locust_failures.csv")
                       if (drill.evidence_dir / name).is_file()]  # fmt: skip
    fault = drill.timeline.first("fault_injected")
    back = _recovery_wall(drill)
    if fault is None:
        phases = {"whole run": (0.0, float("inf"))}
    else:
        end = back if back is not None else float("inf")
        phases = {"before": (0.0, fault.wall), "during": (fault.wall, end), "after": (end, float("inf"))}
    summary = load_summary(requests, users=crowd.users, phases=phases, fault_at=fault.wall if fault else None)
    summary["locust_exit_code"] = code
    if drill.rto is not None:
        summary["prober_rto_s"] = drill.rto.measured_s
    outage = user_outage(requests, fault.wall) if fault is not None else None
    if outage is not None:
        drill.timeline.mark("users_first_failed", wall=outage.first_failed)
        drill.timeline.mark("users_last_failed", wall=outage.last_failed_end, failed_requests=outage.failed)
    drill.load = summary
    if load_png(requests, drill.evidence_dir / "load.png", title=drill.name, fault_at=fault.wall if fault else None,
                recovered_at=back, bin_s=BIN_S):  # fmt: skip
        drill.evidence.append("load.png")


def _wait_observed(crowd: Crowd, until: float) -> None:
    """Until the crowd's log holds every request that started before ``until`` (wall clock), or a crowd
    still there would have by now: users that fell silent while locust runs never get there."""
    give_up = crowd.gives_up_at(until)
    while True:
        crowd.requests()
        if crowd.observed_until() >= until or not crowd.running or time.time() >= give_up:
            return
        time.sleep(0.25)


def _not_observed(crowd: Crowd, until: float) -> str:
    """Why the crowd's log does not cover the window to ``until``."""
    if not crowd.running:
        return f"the crowd stopped (locust exit code {crowd.stop()}) before the window was observed to its end"
    return (f"the users fell silent {until - crowd.observed_until():.1f}s before the window's end (locust still "
            "running): the window was not observed to its end")  # fmt: skip


def _describe_error_rate(args: dict[str, Any], context: PlanContext) -> str:
    return (
        f"CHECK the users' requests from the fault until every replica answered again (at least "
        f"{MIN_WINDOW_S:g}s): at most {args['percent']:g}% failed"
    )


@then(planned(ERROR_RATE, _describe_error_rate))
def error_rate_during_recovery(crowd: Crowd, drill: DrillRecord, percent: float) -> None:
    fault = drill.timeline.first("fault_injected")
    assert fault is not None, "no fault was injected before judging the users' error rate"
    back = _recovery_wall(drill)
    if back is None:
        verdict, reason = Verdict.UNKNOWN, "the prober never saw the recovery: no window to judge the users' errors"
    else:
        end = max(back, fault.wall + MIN_WINDOW_S)
        _wait_observed(crowd, end)
        if crowd.observed_until() < end:
            verdict, reason = Verdict.UNKNOWN, _not_observed(crowd, end)
        else:
            verdict, reason = judge_error_rate(error_rate(crowd.requests(), fault.wall, end), percent / 100,
                                               min_requests=MIN_REQUESTS)  # fmt: skip
            reason += f" (from the fault to the recovery {back - fault.wall:.1f}s later, at least {MIN_WINDOW_S:g}s)"
    drill.judgements.append(Judgement(f"users' error rate during recovery <= {percent:g}%", verdict, reason))
    _judge(verdict, reason)


def _describe_latency(args: dict[str, Any], context: PlanContext) -> str:
    ms = args["ms"] if "ms" in args else context.budgets.users["p95_latency"] * 1000
    source = "" if "ms" in args else f" (the {context.budgets.profile} budget profile's users.p95_latency)"
    return (
        f"CHECK the users' p95 latency, per {BIN_S:g}s, back under {ms:g} ms{source} for {CONFIRM_S:g}s, "
        f"starting within {args['seconds']:g}s of the recovery"
    )


@then(planned(LATENCY, _describe_latency))
def latency_back(crowd: Crowd, drill: DrillRecord, ms: float, seconds: float) -> None:
    _judge_latency(crowd, drill, ms / 1000, seconds, "")


@then(planned(LATENCY_BUDGET, _describe_latency))
def latency_back_within_budget(crowd: Crowd, drill: DrillRecord, budgets: Budgets, seconds: float) -> None:
    _judge_latency(crowd, drill, budgets.users["p95_latency"], seconds, f" (budget profile {budgets.profile})")


def _judge_latency(crowd: Crowd, drill: DrillRecord, threshold_s: float, seconds: float, source: str) -> None:
    back = _recovery_wall(drill)
    name = f"users' p95 latency back under {threshold_s * 1000:g} ms{source} within {seconds:g}s"
    if back is None:
        verdict, reason = Verdict.UNKNOWN, "the prober never saw the recovery: nothing to measure latency from"
    else:
        deadline = back + seconds + CONFIRM_S + BIN_S
        give_up = crowd.gives_up_at(deadline)
        while True:
            result = latency_recovery(crowd.requests(), recovered_at=back, observed_until=crowd.observed_until(),
                                      threshold_s=threshold_s, within_s=seconds, bin_s=BIN_S,
                                      confirm_s=CONFIRM_S)  # fmt: skip
            waited_out = crowd.observed_until() >= deadline or not crowd.running or time.time() >= give_up
            if result.verdict is not Verdict.UNKNOWN or waited_out:
                break
            time.sleep(0.25)
        verdict, reason = result.verdict, result.reason
        if result.back_after_s is not None:
            at = back + result.back_after_s
            drill.timeline.mark("users_latency_back", wall=at)
    drill.judgements.append(Judgement(name, verdict, reason))
    _judge(verdict, reason)
