"""A bad release: replicas that answer 500 or crash at start-up, rolled out like ``helm upgrade``.

Observed when every replica fails its health check (500, or nothing listening);
reverted by rolling back to the previous release, unless the drill's own
recovery already did.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import httpx

from chaos.errors import ConfigError, FaultNotObservedError
from chaos.faults.base import Fault

if TYPE_CHECKING:
    from pathlib import Path

    from chaos.faults.ledger import Ledger
    from chaos.targets.local import LocalTarget

__all__ = ["BadRelease"]

DEFECTS = {"errors": "answers every request with 500", "crash": "crashes at start-up (crash loop)"}
OBSERVE_TIMEOUT_S = 15.0


class BadRelease(Fault):
    kind = "bad-release"

    def __init__(self, target: LocalTarget | None, version: str, defect: str, *, ledger: Ledger | None = None) -> None:
        super().__init__(ledger=ledger)
        if defect not in DEFECTS:
            raise ConfigError(f"release defect {defect!r}: expected one of {', '.join(DEFECTS)}")
        self.target, self.version, self.defect = target, version, defect

    def spec(self) -> dict[str, Any]:
        return {"version": self.version, "defect": self.defect}

    @classmethod
    def from_spec(cls, spec: dict[str, Any], snapshot: Path | None) -> BadRelease:
        # Releases live in the sandbox that deployed them; a crashed sandbox is swept whole.
        return cls(None, spec["version"], spec["defect"])

    def describe(self) -> str:
        return f"deploy release {self.version}, which {DEFECTS[self.defect]}"

    def _apply(self) -> None:
        if self.target is None:
            raise ConfigError("a bad release rebuilt from the ledger can only be reverted")
        self.target.deploy(self.version, self.defect)

    def _observe(self) -> None:
        assert self.target is not None
        deadline = time.monotonic() + OBSERVE_TIMEOUT_S
        while time.monotonic() < deadline:
            if all(not _healthy(url) for url in self.target.endpoints.apps):
                return
            time.sleep(0.1)
        raise FaultNotObservedError(f"{self.describe()}: replicas still pass their health check after "
                                    f"{OBSERVE_TIMEOUT_S:g}s; the fault did not land")  # fmt: skip

    def _undo(self) -> None:
        if self.target is not None and self.target.release["version"] == self.version:
            self.target.rollback()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False
