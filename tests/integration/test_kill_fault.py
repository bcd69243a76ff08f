"""A kill is confirmed by its effect, and a kill that cannot land is reported, not passed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from chaos.errors import ComponentError
from chaos.faults import FaultNotObservedError, kill_component
from chaos.faults import process as fault_process
from chaos.measure.timeline import Timeline
from chaos.servers.process import pid_alive

if TYPE_CHECKING:
    from chaos.targets.local import LocalTarget


def test_kill_is_marked_and_observed(sandbox: LocalTarget) -> None:
    timeline = Timeline()
    [pid] = kill_component(sandbox, "redis", timeline)
    assert not pid_alive(pid)
    names = [moment.name for moment in timeline.moments()]
    assert names == ["fault_injected", "fault_observed"]


def test_kill_of_a_process_already_gone_is_an_error(sandbox: LocalTarget) -> None:
    sandbox.kill("redis")
    with pytest.raises(ComponentError, match="no running process"):
        kill_component(sandbox, "redis", Timeline())


def test_a_component_that_still_answers_is_not_a_landed_fault(
    sandbox: LocalTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A kill that the target swallows: the server keeps running and answering.
    monkeypatch.setattr(sandbox, "kill", lambda component, replica=None: [])
    monkeypatch.setattr(fault_process, "OBSERVE_TIMEOUT_S", 0.5)
    with pytest.raises(FaultNotObservedError, match="still answers on its endpoint; the fault did not land"):
        kill_component(sandbox, "mongodb", Timeline())
