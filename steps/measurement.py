"""Steps that measure the drill from the outside and judge it against the budgets."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest
from pytest_bdd import parsers, then, when

from chaos.measure.data_loss import classify_writes
from chaos.measure.final_read import read_tracked
from chaos.measure.rto import RtoMeasurement, measure_rto
from chaos.measure.verdict import Verdict

if TYPE_CHECKING:
    from chaos.config import Budgets
    from chaos.measure.probe import Prober
    from chaos.measure.workload import EventWriter
    from chaos.report.record import DrillRecord
    from chaos.targets.base import Target


def _words_to_key(words: str) -> str:
    return words.strip().lower().replace(" ", "_")


def _judge(verdict: Verdict, reason: str) -> None:
    if verdict is Verdict.UNKNOWN:
        pytest.fail(f"inconclusive (verdict unknown): {reason}", pytrace=False)
    assert verdict is Verdict.PASSED, reason


@when(parsers.parse("the writer keeps writing for {seconds:g} seconds"))
def keep_writing(writer: EventWriter, seconds: float) -> None:
    before = writer.acked_count()
    time.sleep(seconds)
    after = writer.acked_count()
    assert after > before, f"no write was acknowledged in {seconds:g}s: the workload is not running"


@then(parsers.parse("every replica answers /health for {count:d} consecutive probes within the {component} RTO"))
def recovered_within_rto(prober: Prober, drill: DrillRecord, budgets: Budgets, count: int, component: str) -> None:
    """Wait until recovery is confirmed or the budget has run out, then judge the RTO."""
    key = _words_to_key(component)
    budget = budgets.rto_for(key)
    fault = drill.timeline.first("fault_injected")
    assert fault is not None, "no fault was injected before waiting for recovery"

    def measure() -> RtoMeasurement:
        return measure_rto(prober.samples(), targets=prober.urls, fault_at=fault.mono, consecutive=count,
                           budget_s=budget, component=key)  # fmt: skip

    # Past the budget plus the time to confirm, the verdict cannot change.
    deadline = fault.mono + budget + count * prober.interval + prober.timeout
    rto = measure()
    while rto.stable_at is None and time.monotonic() < deadline:
        time.sleep(prober.interval)
        rto = measure()
    drill.rto = rto
    if rto.first_failed_at is not None:
        drill.timeline.mark("first_failed_probe", mono=rto.first_failed_at)
    if rto.back_at is not None and rto.stable_at is not None:
        drill.timeline.mark("stable", mono=rto.back_at, confirmed_after_s=round(rto.stable_at - rto.back_at, 3))
    _judge(rto.verdict, rto.reason)


@then(parsers.parse("the acknowledged {data_class} lost are within the {budget_class} RPO"))
def data_loss_within_budget(
    target: Target, writer: EventWriter, drill: DrillRecord, budgets: Budgets, data_class: str, budget_class: str
) -> None:
    key = _words_to_key(budget_class)
    assert _words_to_key(data_class) == writer.data_class, f"the writer tracks {writer.data_class}, not {data_class}"
    fault = drill.timeline.first("fault_injected")
    assert fault is not None
    writer.stop()
    present = read_tracked(target.endpoints.mongodb_uri, target.endpoints.database, writer.collection,
                           writer.id_prefix)  # fmt: skip
    loss = classify_writes(writer.log(), present, data_class=key, fault_wall=fault.wall,
                           budget_s=budgets.rpo_for(key))  # fmt: skip
    drill.rpo[key] = loss
    _judge(loss.verdict, loss.reason)
