"""Put things back after a crashed run: revert its faults from the ledger, then stop its processes.

Faults go first: reverting a partition needs the Toxiproxy server that the
process sweep would stop. The sweep covers the sandbox's processes (from
their run directories), and, for each target it is given that allows drills,
the Docker target's containers, networks and volumes or the Kubernetes
target's namespaces under its name prefix: each removed only when a claim
in this ledger proves it a dead run's (chaos.ownership); what carries the
tool's label without that proof is left alone, and said so.
A fault that hit a target is rebuilt with that
target, found again from its ledger entry; when the target itself ended with
the run, there is nothing to put back, and the report says so ("settled")
instead of claiming a revert. Only what was verified is reported "reverted".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chaos.faults.base import fault_from_spec
from chaos.ownership import Owners, Sweep
from chaos.targets.docker import sweep_orphan_runs
from chaos.targets.kubernetes import sweep_orphan_namespaces
from chaos.targets.reattach import Gone, reattach
from chaos.targets.registry import sweep_orphans

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from chaos.faults.ledger import Ledger, LedgerEntry
    from chaos.targets.config import TargetConfig

__all__ = ["CleanupReport", "cleanup", "owners_of", "revert_faults_of", "sweep_targets"]


@dataclass
class CleanupReport:
    reverted: list[str] = field(default_factory=list)
    settled: list[str] = field(default_factory=list)  # nothing to put back: the target ended with its run
    failed: list[str] = field(default_factory=list)
    killed: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)  # the tool's label without proof of a dead run of ours

    @property
    def ok(self) -> bool:
        return not self.failed

    def lines(self) -> list[str]:
        out = [f"reverted {line}" for line in self.reverted]
        out += [f"nothing to revert for {line}" for line in self.settled]
        out += [f"could not revert {line}" for line in self.failed]
        out += [f"stopped {line}" for line in self.killed]
        out += [f"left alone {line}" for line in self.left]
        return out or ["nothing to clean up"]


def owners_of(ledger: Ledger) -> Owners:
    """The claims of the objects runs recording faults in ``ledger`` made: in the same ledger."""
    return Owners(ledger.directory / "owners")


def cleanup(
    ledger: Ledger, run_bases: list[Path], *, processes: bool = True, targets: Sequence[TargetConfig] = ()
) -> CleanupReport:
    """Revert every fault whose owner is gone; then stop what runs whose owner is gone left on ``targets``.

    The sandbox's processes are found from the run directories of ``run_bases``; containers and namespaces
    only on the engines and clusters of ``targets`` that allow drills.
    """
    report = CleanupReport()
    report.failed += [f"ledger entry {line}; left in place: what that fault changed may still be changed"
                      for line in ledger.unreadable()]  # fmt: skip
    _revert(ledger, ledger.orphans(), report)
    if processes:
        for base in run_bases:
            report.killed += sweep_orphans(base)
        for sweep in sweep_targets(targets, owners_of(ledger)):
            report.killed += sweep.removed
            report.left += sweep.left
    return report


def sweep_targets(targets: Sequence[TargetConfig], owners: Owners) -> list[Sweep]:
    """Sweep each engine and cluster of ``targets`` once, those that allow drills only."""
    done: list[Sweep] = []
    seen: set[tuple[object, ...]] = set()
    for target in targets:
        if not target.drill_allowed:
            continue
        if target.kind == "docker" and ("docker",) not in seen:
            seen.add(("docker",))
            done.append(sweep_orphan_runs(owners))
        elif target.kind == "kubernetes" and target.kubernetes is not None:
            settings = target.kubernetes
            key = ("kubernetes", settings.kubeconfig, settings.context, settings.namespace)
            if key not in seen:
                seen.add(key)
                done.append(sweep_orphan_namespaces(settings.kubeconfig, settings.context, owners,
                                                    within=f"{settings.namespace}-"))  # fmt: skip
    return done


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
