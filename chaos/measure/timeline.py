"""The drill's timeline: named moments, each with monotonic and wall-clock time."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Moment", "Timeline"]


@dataclass(frozen=True)
class Moment:
    name: str
    mono: float
    wall: float
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"event": self.name, "at": self.wall, "mono": self.mono, **self.detail}


class Timeline:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._moments: list[Moment] = []

    def mark(self, name: str, *, mono: float | None = None, wall: float | None = None, **detail: Any) -> Moment:
        """Record a moment now, or at an observed time given as monotonic or wall-clock seconds (or both);
        the clock not given is derived from the other."""
        now_mono, now_wall = time.monotonic(), time.time()
        if mono is None:
            if wall is None:
                mono, wall = now_mono, now_wall
            else:
                mono = now_mono - (now_wall - wall)
        elif wall is None:
            wall = now_wall - (now_mono - mono)
        moment = Moment(name, mono, wall, dict(detail))
        with self._lock:
            self._moments.append(moment)
        return moment

    def first(self, name: str) -> Moment | None:
        with self._lock:
            return next((moment for moment in self._moments if moment.name == name), None)

    def moments(self) -> list[Moment]:
        with self._lock:
            return sorted(self._moments, key=lambda moment: moment.mono)
