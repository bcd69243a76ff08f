"""Finding, from another process, the target a fault landed on: for `drill cleanup` after a runner died.

A fault's ledger entry keeps its target's ``locator()``. A sandbox daemon
(`drill sandbox up`) outlives the runner that injected the fault and is
reached again through its control API, so what the fault did to it can be
undone. An in-process sandbox ends with its runner: its processes are stopped
with its run directory, so a kill of one of them leaves nothing to put back,
and the caller is told so rather than told that something was reverted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaos.errors import ConfigError, RevertError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from chaos.targets.base import Target

__all__ = ["Gone", "reattach"]


@dataclass(frozen=True)
class Gone:
    """The target no longer runs, so nothing of it needs restarting; ``reason`` says why."""

    reason: str


def reattach(locator: Mapping[str, Any] | None) -> Target | Gone:
    """The target ``locator`` names, live; ``Gone`` when it ended; RevertError when it cannot be told."""
    if not isinstance(locator, dict) or not locator.get("kind"):
        raise RevertError("the ledger entry does not say which target the fault hit, so nothing can be checked or "
                          "restarted; look at the target by hand (`drill sandbox status`)")  # fmt: skip
    kind = locator["kind"]
    if kind == "sandbox":
        from chaos.sandbox_daemon import connect  # the daemon's client pulls in the sandbox itself

        workdir = Path(str(locator.get("workdir", "")))
        try:
            return connect(workdir)
        except ConfigError:
            return Gone(f"the sandbox in {workdir} no longer runs; `drill sandbox down --workdir {workdir}` stops "
                        "whatever it left")  # fmt: skip
    if kind == "local":
        return Gone(f"the sandbox run {locator.get('run_dir')} ended with the runner that started it; its processes "
                    "are stopped with the run, not restarted")  # fmt: skip
    if kind == "docker":
        return Gone(f"the Docker run {locator.get('run')} ended with the runner that started it; its containers, "
                    "network and volumes are removed by their labels, not restarted")  # fmt: skip
    if kind == "kubernetes":
        return Gone(f"the Kubernetes run {locator.get('run')} ended with the runner that started it; its namespace "
                    f"{locator.get('namespace')} is removed by its labels, not repaired")  # fmt: skip
    raise RevertError(f"the ledger entry names a target of unknown kind {kind!r}")
