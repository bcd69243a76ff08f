"""Killing processes — a data store, one app replica, all of them, or a random fraction — confirmed from outside.

Observed on injection: every killed pid is gone, and a killed data store no
longer answers on its direct endpoint. On revert, killed app replicas must come
back under new pids (the supervisor's job, as a Deployment's) and a data store
the drill did not bring back is started again on its own data.
"""

from __future__ import annotations

import functools
import math
import random
import signal
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chaos.errors import ConfigError, FaultNotObservedError, RevertError, SafetyError, WaitTimeoutError
from chaos.faults.base import Fault
from chaos.servers import launch
from chaos.servers.process import pid_alive
from chaos.targets.base import is_running
from chaos.wait import wait_for

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from chaos.faults.ledger import Ledger
    from chaos.targets.base import Endpoints, Target

__all__ = ["OBSERVE_TIMEOUT_S", "BlastRadius", "Kill", "SystemFailure", "answers"]

OBSERVE_TIMEOUT_S = 5.0
COME_BACK_TIMEOUT_S = 30.0
SIGNALS = {"SIGKILL": signal.SIGKILL, "SIGTERM": signal.SIGTERM}


@dataclass(frozen=True)
class BlastRadius:
    """The most a fault may take down at once, from the target's configuration."""

    max_replicas: int
    max_fraction: float

    def check(self, count: int, total: int, what: str) -> None:
        if count > self.max_replicas or (total and count / total > self.max_fraction):
            raise SafetyError(
                f"{what}: {count} of {total} replicas exceeds the blast radius "
                f"(at most {self.max_replicas} replicas and {self.max_fraction:.0%} of them)"
            )


def answers(endpoints: Endpoints, component: str) -> Callable[[], bool]:
    """A check that ``component`` answers on its endpoint now: True or False, never an error."""
    checks: dict[str, Callable[[], bool]] = {
        "mongodb": lambda: launch.mongo_ready(endpoints.mongodb_uri),
        "redis": lambda: launch.redis_ready(endpoints.redis_url),
        "toxiproxy": lambda: launch.toxiproxy_ready(endpoints.toxiproxy_api),
        "prometheus": lambda: launch.prometheus_ready(endpoints.prometheus_api),
    }
    return functools.partial(_answering, checks[component])


def _answering(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except launch.NOT_READY:
        return False


class _ProcessFault(Fault):
    """What every process fault has: its target, the signal it sends, the blast radius it respects."""

    def __init__(
        self,
        target: Target | None,
        *,
        signal_name: str,
        blast_radius: BlastRadius | None,
        ledger: Ledger | None,
        description: str,
    ) -> None:
        super().__init__(ledger=ledger)
        if signal_name not in SIGNALS:
            raise ConfigError(f"signal {signal_name!r}: expected one of {', '.join(SIGNALS)}")
        self.target, self.signal_name, self.blast_radius = target, signal_name, blast_radius
        self.target_description = description or (target.description if target else "")

    def _target_spec(self) -> dict[str, Any]:
        """Where the fault landed: its description, and the locator a revert in another process reaches it by."""
        return {"target": self.target_description, "locator": self.target.locator() if self.target else None}

    @staticmethod
    def _live_target(spec: dict[str, Any], target: Target | None) -> Target:
        if target is None:
            raise RevertError(f"{spec.get('target') or 'the target'} could not be reached from the ledger entry, so "
                              "what the fault stopped cannot be checked or restarted")  # fmt: skip
        return target

    def _await_gone(self, pids: list[int], endpoints: dict[str, Callable[[], bool]]) -> None:
        """Until every pid is gone and no endpoint answers; FaultNotObservedError after OBSERVE_TIMEOUT_S."""
        deadline = time.monotonic() + OBSERVE_TIMEOUT_S
        while True:
            alive = [pid for pid in pids if pid_alive(pid)]
            answering = [name for name, check in endpoints.items() if check()]
            if not alive and not answering:
                return
            if time.monotonic() > deadline:
                seen = f"pids {alive} still alive" if alive else f"{', '.join(answering)} still answer"
                if alive and self.signal_name != "SIGKILL":
                    seen += f" ({self.signal_name} did not end them; it is not escalated to SIGKILL)"
                raise FaultNotObservedError(f"{self.describe()}: after {OBSERVE_TIMEOUT_S:g}s {seen}; "
                                            "the fault did not land")  # fmt: skip
            time.sleep(0.05)


class Kill(_ProcessFault):
    """Send SIGKILL (or SIGTERM) to a component's processes.

    ``replicas`` (the app only): ``"one"`` (a random replica), ``"all"``, an index,
    or a fraction in (0, 1] of the replicas, rounded up, chosen at random.
    """

    kind = "kill"

    def __init__(
        self,
        target: Target | None,
        component: str,
        *,
        replicas: str | int | float = "all",
        signal_name: str = "SIGKILL",
        blast_radius: BlastRadius | None = None,
        ledger: Ledger | None = None,
        seed: int | None = None,
        description: str = "",
    ) -> None:
        super().__init__(target, signal_name=signal_name, blast_radius=blast_radius, ledger=ledger,
                         description=description)  # fmt: skip
        if isinstance(replicas, float) and not 0 < replicas <= 1:
            raise ConfigError(f"kill a fraction {replicas}: expected a fraction in (0, 1]")
        self.component, self.replicas = component, replicas
        self._random = random.Random(seed)
        self.killed: dict[int | None, int] = {}  # replica index (None for a data store) -> pid
        self._rebuilt = False  # from a ledger entry: the process may have died between the kill and its record

    def spec(self) -> dict[str, Any]:
        return {"component": self.component, "replicas": self.replicas, "signal": self.signal_name,
                "killed": {str(k): v for k, v in self.killed.items()}, **self._target_spec()}  # fmt: skip

    @classmethod
    def from_spec(cls, spec: dict[str, Any], snapshot: Path | None, target: Target | None = None) -> Kill:
        fault = cls(cls._live_target(spec, target), spec["component"], replicas=spec["replicas"],
                    signal_name=spec["signal"], description=spec["target"])  # fmt: skip
        fault.killed = {None if key == "None" else int(key): int(pid) for key, pid in spec["killed"].items()}
        fault._rebuilt = True
        return fault

    def describe(self) -> str:
        which = f"{self.replicas} replica(s) of " if self.component == "app" else ""
        return f"{self.signal_name} to {which}{self.component} on {self.target_description}"

    def replicas_hit(self) -> set[int]:
        """The app replicas (by index) the fault took down."""
        return {index for index in self.killed if index is not None}

    def _indices(self, total: int) -> list[int]:
        if self.replicas == "all":
            return list(range(total))
        if self.replicas == "one":
            return [self._random.randrange(total)]
        if isinstance(self.replicas, int):
            if not 0 <= self.replicas < total:
                raise ConfigError(f"kill app replica {self.replicas}: there are {total} replicas")
            return [self.replicas]
        if isinstance(self.replicas, float):
            return sorted(self._random.sample(range(total), math.ceil(self.replicas * total)))
        raise ConfigError(f"replicas {self.replicas!r}: expected 'one', 'all', an index or a fraction")

    def _apply(self) -> None:
        if self.target is None:
            raise ConfigError("a kill rebuilt from the ledger can only be reverted")
        sig = SIGNALS[self.signal_name]
        if self.component != "app":
            running = [row for row in self.target.status() if row.component == self.component and row.running]
            if not running:
                raise FaultNotObservedError(f"{self.describe()}: no running process to kill; the fault cannot land")
            [pid] = self.target.kill(self.component, sig=sig)
            self.killed[None] = pid
            return
        total = sum(1 for row in self.target.status() if row.component == "app")
        if total == 0:
            raise FaultNotObservedError(f"{self.describe()}: no app replica is running; the fault cannot land")
        indices = self._indices(total)
        if self.blast_radius is not None:
            self.blast_radius.check(len(indices), total, self.describe())
        for index in indices:
            [pid] = self.target.kill("app", replica=index, sig=sig)
            self.killed[index] = pid

    def _observe(self) -> None:
        assert self.target is not None
        if not self.killed:
            raise FaultNotObservedError(f"{self.describe()}: no process was signalled; the fault did not land")
        endpoints = {} if self.component == "app" else {
            self.component: answers(self.target.endpoints, self.component)}  # fmt: skip
        self._await_gone(list(self.killed.values()), endpoints)

    def _await_answer(self) -> None:
        """Until the data store answers again: a process restarted for it (by a kubelet, in place) runs a
        moment before it listens, and its Service routes to it only once its readiness probe passed."""
        assert self.target is not None
        check = answers(self.target.endpoints, self.component)
        try:
            wait_for(check, what=f"{self.component} to answer", timeout=COME_BACK_TIMEOUT_S, interval=0.1)
        except WaitTimeoutError:
            seen = f"{self.component} was started again but does not answer after {COME_BACK_TIMEOUT_S:g}s"
            raise RevertError(f"{self.describe()}: {seen}") from None

    def _undo(self) -> None:
        if self.target is None or not (self.killed or self._rebuilt):
            return
        if self.component != "app":
            if not is_running(self.target, self.component):
                self.target.start_component(self.component)
            self._await_answer()
            return
        deadline = time.monotonic() + COME_BACK_TIMEOUT_S
        while True:
            rows = {row.name: row for row in self.target.status() if row.component == "app"}
            waiting = [
                index for index, pid in self.killed.items()
                if f"app-{index}" in rows and (rows[f"app-{index}"].pid == pid or not rows[f"app-{index}"].running)
            ]  # fmt: skip
            if not waiting:
                return
            if time.monotonic() > deadline:
                seen = f"replicas {waiting} did not come back with a new pid in {COME_BACK_TIMEOUT_S:g}s"
                raise RevertError(f"{self.describe()}: {seen}")
            time.sleep(0.1)


class SystemFailure(_ProcessFault):
    """The plan's "Complete System Failure": every process of the stack killed at once.

    Data stores, proxies, monitoring and every app replica go down together, as
    when the cluster itself is lost, and nothing restarts on its own. Observed
    when every killed pid is gone and no component answers on its endpoint.
    Reverted by starting every component still down on its own data and scaling
    the app back, unless the drill's recovery already did.
    """

    kind = "system-failure"

    def __init__(
        self,
        target: Target | None,
        *,
        signal_name: str = "SIGKILL",
        blast_radius: BlastRadius | None = None,
        ledger: Ledger | None = None,
        description: str = "",
    ) -> None:
        super().__init__(target, signal_name=signal_name, blast_radius=blast_radius, ledger=ledger,
                         description=description)  # fmt: skip
        self.killed: dict[str, list[int]] = {}
        self._endpoints: Endpoints | None = None  # where each component answered before the kill

    def spec(self) -> dict[str, Any]:
        return {"signal": self.signal_name, "killed": self.killed, **self._target_spec()}

    @classmethod
    def from_spec(cls, spec: dict[str, Any], snapshot: Path | None, target: Target | None = None) -> SystemFailure:
        fault = cls(cls._live_target(spec, target), signal_name=spec["signal"], description=spec["target"])
        fault.killed = {name: [int(pid) for pid in pids] for name, pids in spec["killed"].items()}
        return fault

    def describe(self) -> str:
        return f"{self.signal_name} to every component of {self.target_description} at once"

    def _apply(self) -> None:
        if self.target is None:
            raise ConfigError("a system failure rebuilt from the ledger can only be reverted")
        replicas = sum(1 for row in self.target.status() if row.component == "app")
        if self.blast_radius is not None:
            self.blast_radius.check(replicas, replicas, self.describe())
        self._endpoints = self.target.endpoints
        self.killed = self.target.kill_all(SIGNALS[self.signal_name])
        if not any(self.killed.values()):
            raise FaultNotObservedError(f"{self.describe()}: nothing was running; the fault cannot land")

    def _observe(self) -> None:
        if self._endpoints is None or not any(self.killed.values()):
            raise FaultNotObservedError(f"{self.describe()}: no process was signalled; the fault did not land")
        checks = {name: answers(self._endpoints, name) for name in self.killed if name != "app"}
        for url in self._endpoints.apps:
            checks[url] = functools.partial(_answering, functools.partial(launch.http_answers, f"{url}/health"))
        self._await_gone([pid for pids in self.killed.values() for pid in pids], checks)

    def _undo(self) -> None:
        if self.target is None or not self.killed:
            return
        for component in self.killed:
            if component != "app" and not is_running(self.target, component):
                self.target.start_component(component)
        if self.killed.get("app") and not any(row.component == "app" for row in self.target.status()):
            self.target.scale("app", len(self.killed["app"]))
