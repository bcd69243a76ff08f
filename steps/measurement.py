"""Steps that measure the drill from the outside and judge it against the budgets."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest
from pytest_bdd import parsers, then, when

from chaos.measure.data_loss import classify_writes
from chaos.measure.final_read import read_tracked
from chaos.measure.rto import measure_rto
from chaos.measure.verdict import Verdict
from chaos.wait import wait_for

if TYPE_CHECKING:
    from chaos.config import Budgets
    from chaos.measure.probe import Prober
    from chaos.measure.workload import EventWriter
    from chaos.report.record import DrillRecord
    from chaos.targets.base import Target

STABLE_TIMEOUT_S = 120.0


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


@then(parsers.parse("every replica answers /health for {count:d} consecutive probes"), target_fixture="stable_run")
def replicas_stable(prober: Prober, drill: DrillRecord, budgets: Budgets, count: int) -> int:
    fault = drill.timeline.first("fault_injected")
    assert fault is not None, "no fault was injected before waiting for recovery"

    def stable() -> bool:
        measured = measure_rto(prober.samples(), targets=prober.urls, fault_at=fault.mono,
                               consecutive=count, budget_s=float("inf"), component="-")  # fmt: skip
        return measured.stable_at is not None

    wait_for(stable, what=f"{count} consecutive healthy probes on every replica", timeout=STABLE_TIMEOUT_S,
             interval=prober.interval)  # fmt: skip
    return count


@then(parsers.parse("the recovery time is within the {component} RTO"))
def rto_within_budget(prober: Prober, drill: DrillRecord, budgets: Budgets, stable_run: int, component: str) -> None:
    fault = drill.timeline.first("fault_injected")
    assert fault is not None
    rto = measure_rto(
        prober.samples(),
        targets=prober.urls,
        fault_at=fault.mono,
        consecutive=stable_run,
        budget_s=budgets.rto_for(_words_to_key(component)),
        component=_words_to_key(component),
    )
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
