"""Put things back after a crashed run: revert its faults from the ledger, then stop its processes.

Faults go first: reverting a partition needs the Toxiproxy server that the
process sweep would stop. The sweep covers the sandbox's processes, the
Docker target's containers, networks and volumes, and the Kubernetes target's
namespaces on the clusters the targets file names (all found by their labels).
A fault that hit a target is rebuilt with that
target, found again from its ledger entry; when the target itself ended with
the run, there is nothing to put back, and the report says so ("settled")
instead of claiming a revert. Only what was verified is reported "reverted".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chaos.faults.base import fault_from_spec
from chaos.targets.docker import sweep_orphan_runs
from chaos.targets.kubernetes import sweep_orphan_namespaces
from chaos.targets.reattach import Gone, reattach
from chaos.targets.registry import sweep_orphans

if TYPE_CHECKING:
    from pathlib import Path

    from chaos.faults.ledger import Ledger, LedgerEntry

__all__ = ["CleanupReport", "cleanup", "revert_faults_of"]


@dataclass
class CleanupReport:
    reverted: list[str] = field(default_factory=list)
    settled: list[str] = field(default_factory=list)  # nothing to put back: the target ended with its run
    failed: list[str] = field(default_factory=list)
    killed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def lines(self) -> list[str]:
        out = [f"reverted {line}" for line in self.reverted]
        out += [f"nothing to revert for {line}" for line in self.settled]
        out += [f"could not revert {line}" for line in self.failed]
        out += [f"stopped {line}" for line in self.killed]
        return out or ["nothing to clean up"]


def cleanup(ledger: Ledger, run_bases: list[Path], *, processes: bool = True) -> CleanupReport:
    """Revert every fault whose owner is gone; then kill the processes of runs whose owner is gone."""
    report = CleanupReport()
    report.failed += [f"ledger entry {line}; left in place: what that fault changed may still be changed"
                      for line in ledger.unreadable()]  # fmt: skip
    _revert(ledger, ledger.orphans(), report)
    if processes:
        for base in run_bases:
            report.killed += sweep_orphans(base)
        report.killed += sweep_orphan_runs()
        report.killed += _sweep_clusters()
    return report


def revert_faults_of(ledger: Ledger, owner: tuple[int, int | None]) -> CleanupReport:
    """Revert the faults ``owner`` (pid, start ticks) left in ``ledger``, once it is gone: its guardian's work."""
    report = CleanupReport()
    entries = [entry for entry in ledger.orphans() if (entry.owner_pid, entry.owner_ticks) == owner]
    _revert(ledger, entries, report)
    return report


def _revert(ledger: Ledger, entries: list[LedgerEntry], report: CleanupReport) -> None:
    for entry in entries:
        left_by = f"{entry.kind} {entry.id} (left by pid {entry.owner_pid})"
        target = None
        try:
            if "locator" in entry.spec:
                found = reattach(entry.spec["locator"])
                if isinstance(found, Gone):
                    ledger.remove(entry.id)
                    report.settled.append(f"{left_by}: {found.reason}")
                    continue
                target = found
            fault = fault_from_spec(entry.kind, entry.spec, entry.snapshot_dir, target)
            fault.revert()
        except Exception as exc:  # keep the entry: a later cleanup may succeed
            report.failed.append(f"{left_by}: {type(exc).__name__}: {exc}")
            continue
        finally:
            if target is not None:
                target.close()
        ledger.remove(entry.id)
        report.reverted.append(f"{fault.describe()} (left by pid {entry.owner_pid})")


def _sweep_clusters() -> list[str]:
    """The namespaces of dead runs on every cluster a kubernetes target of the targets file names."""
    from chaos.errors import ConfigError
    from chaos.targets.config import DEFAULT_TARGETS, load_target
    from chaos.yamlfile import load_file

    try:
        entries = load_file(DEFAULT_TARGETS, "targets file").get("targets", {})
    except (ConfigError, AttributeError):
        return []
    removed: list[str] = []
    for name, entry in entries.items():
        if isinstance(entry, dict) and entry.get("kind") == "kubernetes":
            try:
                settings = load_target(DEFAULT_TARGETS, name).kubernetes
            except ConfigError:
                continue
            if settings is not None:
                removed += sweep_orphan_namespaces(settings.kubeconfig, settings.context)
    return removed
