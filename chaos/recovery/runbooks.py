"""The plan's recovery sequences, each step timed into the drill's timeline.

Runbooks talk to a ``Target`` only, so the same sequence runs against the
local sandbox and, later, a Kubernetes deployment.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import httpx

from chaos.errors import BackupError, ComponentError
from chaos.recovery.integrity import verify_data_integrity
from chaos.recovery.mongo_restore import restore_mongodb
from chaos.report.record import RecoveryStep
from chaos.targets.base import is_running
from chaos.wait import wait_for

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from chaos.measure.timeline import Timeline
    from chaos.targets.base import Target

__all__ = ["Runbook", "ensure_infrastructure", "ensure_mongodb", "recover_mongodb_from_backup", "verify_deployment"]

DATA_COMPONENTS = ("app", "mongodb", "redis")  # brought back by their own steps, with their data


class Runbook:
    """Runs named steps, timing each into the timeline and the step list, stopping at the first failure."""

    def __init__(self, timeline: Timeline, steps: list[RecoveryStep]) -> None:
        self.timeline = timeline
        self.steps = steps

    def step(self, name: str, action: Callable[[], str | None]) -> None:
        started_wall, started = time.time(), time.monotonic()
        try:
            detail = action() or ""
        except Exception as exc:
            self._record(name, started_wall, started, ok=False, detail=f"{type(exc).__name__}: {exc}")
            raise
        self._record(name, started_wall, started, ok=True, detail=detail)

    def _record(self, name: str, wall: float, mono: float, *, ok: bool, detail: str) -> None:
        duration = time.monotonic() - mono
        self.steps.append(RecoveryStep(name, wall, duration, ok, detail))
        self.timeline.mark("recovery_step", mono=mono, wall=wall, step=name,
                           duration_s=round(duration, 3), ok=ok)  # fmt: skip


def ensure_mongodb(target: Target) -> str:
    """Start MongoDB on an empty data directory if it is down; one that is up is restored in place."""
    if is_running(target, "mongodb"):
        return "running: the backup replaces its collections in place"
    target.start_component("mongodb", fresh_data=True)
    return "was down: started on an empty data directory"


def ensure_infrastructure(target: Target) -> str:
    """The plan's "Restore infrastructure": start every supporting component that is down (the proxies
    in front of the data stores, with their links recreated; monitoring). Each is started only when
    it answers again; the data stores and the app come back in their own steps."""
    down = [row.component for row in target.status() if row.component not in DATA_COMPONENTS and not row.running]
    for component in down:
        target.start_component(component)
    return f"started {', '.join(down)}" if down else "every component was running"


def verify_deployment(target: Target, timeout: float = 60.0) -> str:
    """The plan's "Verify deployment" (``kubectl rollout status``): every replica answers its health check."""
    apps = target.endpoints.apps
    if not apps:
        raise ComponentError("verify deployment: the app has no replica")

    def healthy() -> bool:
        return all(httpx.get(f"{url}/health", timeout=2).status_code == 200 for url in apps)

    wait_for(healthy, what=f"{len(apps)} replicas to pass their health check", timeout=timeout,
             not_yet=(httpx.HTTPError,))  # fmt: skip
    return f"{len(apps)} replicas healthy"


def recover_mongodb_from_backup(
    target: Target,
    backup_dir: Path,
    *,
    database: str,
    replicas: int,
    timeline: Timeline,
    steps: list[RecoveryStep] | None = None,
) -> list[RecoveryStep]:
    """The plan's "MongoDB Recovery": stop the app, restore, verify, start the app.

    A MongoDB that is down is started on an empty data directory: the procedure
    covers a database whose data is gone, not one that would come back by
    restarting. One that is up (corrupted data) has its collections replaced.
    Each step is appended to ``steps`` as it ends, so a failed run keeps its record.
    """
    runbook = Runbook(timeline, steps if steps is not None else [])
    timeline.mark("recovery_started", procedure="mongodb-restore", backup=str(backup_dir))
    try:
        runbook.step("scale app to 0", lambda: target.scale("app", 0))

        runbook.step("start MongoDB on an empty data directory if it is down", lambda: ensure_mongodb(target))

        def restore() -> str:
            manifest = restore_mongodb(backup_dir, target.endpoints.mongodb_uri, database)
            counts = ", ".join(f"{name}={entry['count']}" for name, entry in manifest.collections.items())
            return f"restored {counts}"

        runbook.step("restore MongoDB from backup", restore)

        def verify() -> str:
            report = verify_data_integrity(target.endpoints.mongodb_uri, database)
            if not report.ok:
                raise BackupError("integrity check failed after restore: " + "; ".join(report.problems))
            return f"counts {report.counts}"

        runbook.step("verify data integrity", verify)
        runbook.step(f"scale app to {replicas}", lambda: target.scale("app", replicas))
    finally:
        timeline.mark("recovery_finished", ok=all(step.ok for step in runbook.steps))
    return runbook.steps
