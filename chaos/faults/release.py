"""A bad release: replicas that answer 500 or crash at start-up, rolled out like ``helm upgrade``.

A deploy restarts every replica, so right after one nothing listens whatever
the release: "no replica passes its health check" proves nothing. The defect
itself must be seen on the new release's processes, after they started:
- ``errors``: every replica answers ``/health`` with 500 while its ``/metrics``
  says it runs the new version;
- ``crash``: every replica's process of the new release died at start-up and
  was restarted by the platform (a crash loop: its restart count rose), and
  none answers.
A release without its defect is therefore never observed: the drill is
``unknown``. Reverted by rolling back to the previous release, unless the
drill's own recovery already did.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

import httpx

from chaos.errors import ConfigError, FaultNotObservedError, RevertError
from chaos.faults.base import Fault

if TYPE_CHECKING:
    from pathlib import Path

    from chaos.faults.ledger import Ledger
    from chaos.targets.base import ReplicaStatus, Target

__all__ = ["BadRelease"]

DEFECTS = {"errors": "answers every request with 500", "crash": "crashes at start-up (crash loop)"}
OBSERVE_TIMEOUT_S = 15.0


class BadRelease(Fault):
    kind = "bad-release"

    def __init__(self, target: Target | None, version: str, defect: str, *, ledger: Ledger | None = None) -> None:
        super().__init__(ledger=ledger)
        if defect not in DEFECTS:
            raise ConfigError(f"release defect {defect!r}: expected one of {', '.join(DEFECTS)}")
        self.target, self.version, self.defect = target, version, defect
        self._replaced: set[int | None] = set()  # the pids the release replaced

    def spec(self) -> dict[str, Any]:
        return {"version": self.version, "defect": self.defect,
                "target": self.target.description if self.target else None,
                "locator": self.target.locator() if self.target else None}  # fmt: skip

    @classmethod
    def from_spec(cls, spec: dict[str, Any], snapshot: Path | None, target: Target | None = None) -> BadRelease:
        # Releases live in the process that deployed them: no other process can roll one back.
        raise RevertError(f"release {spec['version']} can only be rolled back by the runner that deployed it; "
                          f"its sandbox ({spec.get('target') or 'unknown'}) is not reachable from here")  # fmt: skip

    def describe(self) -> str:
        return f"deploy release {self.version}, which {DEFECTS[self.defect]}"

    def _apply(self) -> None:
        if self.target is None:
            raise ConfigError("a bad release rebuilt from the ledger can only be reverted")
        self._replaced = {row.pid for row in self.target.status() if row.component == "app"}
        self.target.deploy(self.version, self.defect)

    def _observe(self) -> None:
        assert self.target is not None
        deadline = time.monotonic() + OBSERVE_TIMEOUT_S
        while True:
            rows = [row for row in self.target.status() if row.component == "app"]
            urls = self.target.endpoints.apps
            missing = [what for row, url in zip(rows, urls, strict=False)
                       if (what := self._defect_missing(row, url)) is not None]  # fmt: skip
            if rows and not missing:
                return
            if time.monotonic() > deadline:
                seen = "; ".join(missing) or "no app replica runs"
                raise FaultNotObservedError(f"{self.describe()}: the defect was not seen on the new release within "
                                            f"{OBSERVE_TIMEOUT_S:g}s ({seen}); the fault did not land")  # fmt: skip
            time.sleep(0.1)

    def _defect_missing(self, row: ReplicaStatus, url: str) -> str | None:
        """None when ``row`` (at ``url``) shows the defect on the new release; else what it shows instead."""
        if row.pid in self._replaced:
            return f"{row.name} still runs the process from before the release"
        if self.defect == "crash":
            if row.restarts < 1:
                return f"{row.name} on the new release has not crashed (restart count {row.restarts})"
            status = _status(f"{url}/health")
            return None if status is None else f"{row.name} answers /health with {status}"
        status, version = _status(f"{url}/health"), _version(url)
        if status != 500 or version != self.version:
            return f"{row.name} answers /health with {status or 'nothing'} on release {version or 'unknown'}"
        return None

    def _undo(self) -> None:
        if self.target is not None and self.target.release["version"] == self.version:
            self.target.rollback()


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=1.0).status_code
    except httpx.HTTPError:
        return None


_BUILD_INFO = re.compile(r'^calendar_build_info\{version="([^"]*)"\} 1$', re.MULTILINE)


def _version(url: str) -> str | None:
    """The release a replica says it runs, from its metrics."""
    try:
        found = _BUILD_INFO.search(httpx.get(f"{url}/metrics", timeout=1.0).text)
    except httpx.HTTPError:
        return None
    return found.group(1) if found else None
