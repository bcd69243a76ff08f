"""Steps that inject faults, each verified by its observed effect before the drill goes on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_bdd import when

from chaos.faults import kill_component

if TYPE_CHECKING:
    from chaos.report.record import DrillRecord
    from chaos.targets.base import Target


@when("the MongoDB server is killed")
def mongodb_killed(target: Target, drill: DrillRecord) -> None:
    kill_component(target, "mongodb", drill.timeline)
