"""A component that hangs, or that is cut off its network: alive, but unreachable.

``Pause`` freezes a component (SIGSTOP on the sandbox, ``docker pause`` on
containers): it keeps its sockets, so clients connect and then wait for an
answer that does not come. ``Disconnect`` takes a container off its network
without any proxy in between (``docker network disconnect``). Both are observed
from outside — the component stops answering on its endpoint — and reverted by
thawing or reconnecting it and seeing it answer again. Both keep their target's
locator in the ledger, so `drill cleanup` can revert them from another process.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from chaos.errors import FaultNotObservedError, RevertError
from chaos.faults.base import Fault
from chaos.faults.process import OBSERVE_TIMEOUT_S, answers

if TYPE_CHECKING:
    from pathlib import Path

    from chaos.faults.ledger import Ledger
    from chaos.targets.base import Target

__all__ = ["Disconnect", "Pause"]

BACK_TIMEOUT_S = 30.0


class _Isolation(Fault):
    """What both faults share: a target, a data store, the check that it answers, and the way back."""

    verb: str

    def __init__(self, target: Target, component: str, *, ledger: Ledger | None = None, description: str = "") -> None:
        super().__init__(ledger=ledger)
        self.target, self.component = target, component
        self.target_description = description or target.description

    def spec(self) -> dict[str, Any]:
        return {"component": self.component, "target": self.target_description, "locator": self.target.locator()}

    @classmethod
    def from_spec(cls, spec: dict[str, Any], snapshot: Path | None, target: Target | None = None) -> _Isolation:
        if target is None:
            raise RevertError(f"{spec.get('target') or 'the target'} could not be reached from the ledger entry, so "
                              f"{spec['component']} cannot be {cls.verb} back")  # fmt: skip
        fault = cls(target, spec["component"], description=spec["target"])
        fault._injected = True
        return fault

    def _wait(self, *, answering: bool, timeout: float) -> bool:
        check = answers(self.target.endpoints, self.component)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check() is answering:
                return True
            time.sleep(0.05)
        return False

    def _observe(self) -> None:
        if not self._wait(answering=False, timeout=OBSERVE_TIMEOUT_S):
            raise FaultNotObservedError(f"{self.describe()}: {self.component} still answers after "
                                        f"{OBSERVE_TIMEOUT_S:g}s; the fault did not land")  # fmt: skip

    def _back(self) -> None:
        if not self._wait(answering=True, timeout=BACK_TIMEOUT_S):
            raise RevertError(f"{self.describe()}: {self.component} does not answer {BACK_TIMEOUT_S:g}s after it was "
                              f"{self.verb} back")  # fmt: skip


class Pause(_Isolation):
    """Freeze a data store: it holds its connections and answers nothing, as a hung server does."""

    kind = "pause"
    verb = "thawed"

    def describe(self) -> str:
        return f"freeze {self.component} on {self.target_description}"

    def _apply(self) -> None:
        self.target.pause(self.component)

    def _undo(self) -> None:
        if self._injected:
            self.target.unpause(self.component)
            self._back()


class Disconnect(_Isolation):
    """Take a data store's container off its network: nothing reaches it, with no proxy in between."""

    kind = "network-disconnect"
    verb = "connected"

    def describe(self) -> str:
        return f"disconnect {self.component} from its network on {self.target_description}"

    def _apply(self) -> None:
        self.target.disconnect(self.component)

    def _undo(self) -> None:
        if self._injected:
            self.target.connect(self.component)
            self._back()
