"""The shape every fault has: inject, observe, revert; a context manager; recorded in the ledger.

    with Partition(toxiproxy_api, "mongodb", ledger=ledger) as fault:
        ...   # the link is cut, and that was observed

``inject`` records the fault in the ledger before it touches anything, applies
it, then *observes* its effect from outside; a fault whose effect is not seen
raises FaultNotObservedError (the drill's verdict becomes ``unknown``).
``revert`` is idempotent and works after a partial inject. A fault may carry a
``duration`` after which it reverts itself.
"""

from __future__ import annotations

import abc
import threading
import uuid
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from pathlib import Path
    from types import TracebackType

    from chaos.faults.ledger import Ledger
    from chaos.targets.base import Target

__all__ = ["FAULT_KINDS", "Fault", "fault_from_spec"]

FAULT_KINDS: dict[str, type[Fault]] = {}


class Fault(abc.ABC):
    kind: ClassVar[str]

    def __init__(self, *, ledger: Ledger | None = None, duration: float | None = None) -> None:
        self.id = f"{self.kind}-{uuid.uuid4().hex[:12]}"
        self.ledger = ledger
        self.duration = duration
        self._lock = threading.Lock()
        self._injected = False
        self._reverted = False
        self._timer: threading.Timer | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__:  # a concrete fault names its kind; helper bases do not
            FAULT_KINDS[cls.kind] = cls

    # -- what each fault defines ----------------------------------------------
    @abc.abstractmethod
    def spec(self) -> dict[str, Any]:
        """Plain data enough to rebuild this fault in another process and revert it."""

    @classmethod
    @abc.abstractmethod
    def from_spec(cls, spec: dict[str, Any], snapshot: Path | None, target: Target | None = None) -> Fault:
        """Rebuild a fault from its ledger entry; only ``revert`` is called on it.

        ``target``: the live target the entry's locator names, for faults that act on one.
        """

    @abc.abstractmethod
    def describe(self) -> str:
        """One line for logs, reports and ``--dry-run``: what, where, how much."""

    @abc.abstractmethod
    def _apply(self) -> None: ...

    @abc.abstractmethod
    def _observe(self) -> None:
        """Raise FaultNotObservedError unless the fault's effect is seen from outside."""

    @abc.abstractmethod
    def _undo(self) -> None:
        """Put things back; safe to call when ``_apply`` did nothing or only part."""

    def _snapshot_dir(self) -> Path | None:
        return self.ledger.snapshot_dir(self.id) if self.ledger is not None else None

    # -- the lifecycle ---------------------------------------------------------
    def inject(self) -> None:
        if self.ledger is not None:
            self.ledger.record(self.id, self.kind, self.spec())
        self._injected = True
        try:
            self._apply()
        finally:  # what was done (the pids killed, ...), so that a revert in another process knows it
            if self.ledger is not None:
                self.ledger.record(self.id, self.kind, self.spec())
        self._observe()
        if self.duration is not None:
            self._timer = threading.Timer(self.duration, self.revert)
            self._timer.daemon = True
            self._timer.start()

    def revert(self) -> None:
        with self._lock:
            if self._reverted:
                return
            if self._timer is not None and self._timer is not threading.current_thread():
                self._timer.cancel()
            self._undo()
            self._reverted = True
            if self.ledger is not None:
                self.ledger.remove(self.id)

    @property
    def active(self) -> bool:
        return self._injected and not self._reverted

    def __enter__(self) -> Fault:
        try:
            self.inject()
        except BaseException:
            self.revert()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.revert()


def fault_from_spec(kind: str, spec: dict[str, Any], snapshot: Path | None, target: Target | None = None) -> Fault:
    if kind not in FAULT_KINDS:
        raise KeyError(f"unknown fault kind {kind!r}; known: {', '.join(sorted(FAULT_KINDS))}")
    return FAULT_KINDS[kind].from_spec(spec, snapshot, target)
