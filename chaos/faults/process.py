"""Killing a component, confirmed from the outside: the process is gone and its port refuses."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from chaos.errors import FaultNotObservedError
from chaos.servers import launch
from chaos.servers.process import pid_alive

if TYPE_CHECKING:
    from collections.abc import Callable

    from chaos.measure.timeline import Timeline
    from chaos.targets.base import Target

__all__ = ["kill_component"]

OBSERVE_TIMEOUT_S = 5.0


def _answers(target: Target, component: str) -> Callable[[], bool]:
    endpoints = target.endpoints
    checks: dict[str, Callable[[], bool]] = {
        "mongodb": lambda: launch.mongo_ready(endpoints.mongodb_uri),
        "redis": lambda: launch.redis_ready(endpoints.redis_url),
        "toxiproxy": lambda: launch.toxiproxy_ready(endpoints.toxiproxy_api),
    }
    return checks[component]


def _still_answers(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except launch.NOT_READY:
        return False


def kill_component(target: Target, component: str, timeline: Timeline) -> list[int]:
    """SIGKILL ``component``, mark ``fault_injected``, and confirm the effect.

    Raises FaultNotObservedError if a killed pid is still alive or the
    component still answers on its direct endpoint after the observation window.
    """
    moment = timeline.mark("fault_injected", fault="kill", component=component, signal="SIGKILL")
    pids = target.kill(component)
    check = _answers(target, component)
    deadline = time.monotonic() + OBSERVE_TIMEOUT_S
    while True:
        alive = [pid for pid in pids if pid_alive(pid)]
        answering = _still_answers(check)
        if not alive and not answering:
            break
        if time.monotonic() > deadline:
            raise FaultNotObservedError(
                f"kill {component} (pids {pids}): after {OBSERVE_TIMEOUT_S:g}s "
                f"{'pids ' + str(alive) + ' still alive' if alive else 'it still answers on its endpoint'}; "
                "the fault did not land"
            )
        time.sleep(0.05)
    timeline.mark("fault_observed", component=component, pids=pids,
                  after_s=round(time.monotonic() - moment.mono, 3))  # fmt: skip
    return pids
