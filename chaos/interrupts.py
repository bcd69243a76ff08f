"""SIGINT and SIGTERM in a drill runner: an orderly stop, bounded in time.

The first signal interrupts the run (a KeyboardInterrupt in the main thread, as Ctrl-C would be), so
pytest tears its fixtures down: the faults are reverted, the crowd and the writers stop, the stack is
stopped and what was measured so far is reported. That has ``GRACE_S``. A second signal, or the end of
the grace, ends the process at once with exit 3: its guardian (``chaos.guardian``) then reverts and
removes whatever the orderly stop had not reached. Either way the runner ends within the grace.

``deferred()`` marks the few steps that must not be cut in two — a process started and not yet named to
the guardian: an interrupt that arrives inside waits for its end.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import FrameType

__all__ = ["EXIT_INTERRUPTED", "GRACE_S", "Interrupts", "deferred"]

GRACE_S = 45.0
EXIT_INTERRUPTED = 3  # drill run's code for an infrastructure error, which an interrupted run is
SIGNALS = (signal.SIGINT, signal.SIGTERM)

_depth = 0  # how deep the main thread is in deferred() sections
_pending: list[str] = []  # the interrupt that arrived inside one, raised at its end


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """In the main thread, an interrupt that arrives inside is raised at the end instead (elsewhere: no-op)."""
    global _depth
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
    if _depth == 0 and _pending:
        raise KeyboardInterrupt(_pending.pop())


class Interrupts:
    """Installed for the life of a run (``install`` / ``uninstall``): the previous handlers come back after."""

    def __init__(self, grace_s: float = GRACE_S) -> None:
        self.grace_s = grace_s
        self.received: list[str] = []
        self._previous: dict[int, object] = {}
        self._timer: threading.Timer | None = None

    def install(self) -> None:
        for sig in SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)

    def uninstall(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        self.received.append(name)
        if len(self.received) > 1:
            self._leave(f"{name} again while stopping")
        self._timer = threading.Timer(self.grace_s, self._leave, (f"the stop after {self.received[0]} took over "
                                                                   f"{self.grace_s:g}s",))  # fmt: skip
        self._timer.daemon = True
        self._timer.start()
        message = f"{name}: stopping the run (faults reverted, processes stopped; a second signal ends it at once)"
        if _depth:
            _pending[:] = [message]
            return
        raise KeyboardInterrupt(message)

    def _leave(self, why: str) -> NoReturn:
        os.write(sys.stderr.fileno(), f"\ninterrupted: {why}; exiting now, the run's guardian puts back what "
                                      f"is left (exit {EXIT_INTERRUPTED})\n".encode())  # fmt: skip
        os._exit(EXIT_INTERRUPTED)
