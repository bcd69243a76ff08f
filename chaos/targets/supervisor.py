"""Keeps N replicas of a process running, restarting killed ones after a back-off.

This is what a Kubernetes Deployment does for the app's pods: a replica that
dies is replaced, first quickly, then with a growing delay if it keeps dying.
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chaos import interrupts
from chaos.servers.process import ManagedProcess, ProcessSpec

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["ReplicaSet"]

STABLE_AFTER_S = 10.0


@dataclass
class _Slot:
    process: ManagedProcess
    restarts: int = 0
    backoff: float = 0.0
    restart_at: float | None = None
    started: float = 0.0


class ReplicaSet:
    def __init__(
        self,
        make_spec: Callable[[int], ProcessSpec],
        on_start: Callable[[ManagedProcess], None],
        *,
        backoff_initial: float = 0.5,
        backoff_max: float = 5.0,
        poll_interval: float = 0.05,
    ) -> None:
        self._make_spec = make_spec
        self._on_start = on_start
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._poll = poll_interval
        self._slots: list[_Slot] = []
        self.restarted: list[tuple[float, str]] = []  # (wall time, replica name) of every restart, in order
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="replica-supervisor", daemon=True)
        self._thread.start()

    def _launch(self, index: int) -> ManagedProcess:
        process = ManagedProcess(self._make_spec(index))
        self._on_start(process)
        return process

    @property
    def desired(self) -> int:
        with self._lock:
            return len(self._slots)

    def processes(self) -> list[ManagedProcess]:
        with self._lock:
            return [slot.process for slot in self._slots]

    def restarts(self) -> list[int]:
        with self._lock:
            return [slot.restarts for slot in self._slots]

    def scale(self, replicas: int) -> list[ManagedProcess]:
        """Start or stop replicas until ``replicas`` are desired; returns the new ones."""
        started: list[ManagedProcess] = []
        with self._lock:
            while len(self._slots) < replicas:
                with interrupts.deferred():  # started and kept in one piece: close() then stops it
                    process = self._launch(len(self._slots))
                    self._slots.append(_Slot(process, backoff=self._backoff_initial, started=time.monotonic()))
                started.append(process)
            surplus = self._slots[replicas:]
            del self._slots[replicas:]
        for slot in surplus:
            slot.process.stop()
        return started

    def kill(self, index: int, sig: int = signal.SIGKILL) -> ManagedProcess:
        with self._lock:
            process = self._slots[index].process
        process.kill(sig)
        return process

    def crash(self, sig: int = signal.SIGKILL) -> list[ManagedProcess]:
        """Signal every replica and forget them all (nothing restarts them); returns the signalled processes."""
        with self._lock:
            slots, self._slots = self._slots, []
        for slot in slots:
            slot.process.kill(sig)
        return [slot.process for slot in slots]

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self.scale(0)

    def _loop(self) -> None:
        while not self._stopping.wait(self._poll):
            with self._lock:
                now = time.monotonic()
                for index, slot in enumerate(self._slots):
                    self._tend(index, slot, now)

    def _tend(self, index: int, slot: _Slot, now: float) -> None:
        if slot.process.alive():
            if now - slot.started > STABLE_AFTER_S:
                slot.backoff = self._backoff_initial
            return
        if slot.restart_at is None:
            slot.restart_at = now + slot.backoff
            slot.backoff = min(slot.backoff * 2, self._backoff_max)
        elif now >= slot.restart_at:
            slot.process = self._launch(index)
            slot.restarts += 1
            self.restarted.append((time.time(), slot.process.name))
            slot.restart_at = None
            slot.started = now
