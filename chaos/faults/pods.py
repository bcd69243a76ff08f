"""Pods deleted through the Kubernetes API, and replaced by their controller: the platform's own failure.

Where ``Kill`` signals a container's process (the kubelet restarts it in the same
pod), ``PodDelete`` removes the pod: its ReplicaSet or StatefulSet creates another,
scheduled anew, with another name, uid and IP. SIGKILL is a delete with no grace
period (the pod's processes are killed at once), SIGTERM one with the pod's own.

Observed on injection: every deleted pod's uid is gone from the API. On revert,
each replica must be held again by a new pod whose container runs.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from chaos.errors import ConfigError, FaultNotObservedError, RevertError
from chaos.faults.process import COME_BACK_TIMEOUT_S, OBSERVE_TIMEOUT_S, Kill
from chaos.targets.base import require

if TYPE_CHECKING:
    from pathlib import Path

    from chaos.targets.base import Target
    from chaos.targets.kubernetes import KubernetesTarget

__all__ = ["PodDelete"]

GRACE = {"SIGKILL": 0, "SIGTERM": None}  # None: the pod's terminationGracePeriodSeconds


class PodDelete(Kill):
    """Delete pods of a component: one app replica's, a fraction, all, or a data store's."""

    kind = "pod-delete"

    def spec(self) -> dict[str, Any]:
        return {"component": self.component, "replicas": self.replicas, "signal": self.signal_name,
                "deleted": dict(self.deleted), **self._target_spec()}  # fmt: skip

    @classmethod
    def from_spec(cls, spec: dict[str, Any], snapshot: Path | None, target: Target | None = None) -> PodDelete:
        fault = cls(cls._live_target(spec, target), spec["component"], replicas=spec["replicas"],
                    signal_name=spec["signal"], description=spec["target"])  # fmt: skip
        fault.deleted = dict(spec["deleted"])
        return fault

    def __init__(self, target: Target | None, component: str, **kwargs: Any) -> None:
        super().__init__(target, component, **kwargs)
        self.deleted: dict[str, str] = {}  # replica -> the uid of the pod deleted

    def describe(self) -> str:
        which = f"{self.replicas} replica(s) of " if self.component == "app" else ""
        grace = "no grace period" if GRACE[self.signal_name] == 0 else "the pod's grace period"
        return f"delete the pods of {which}{self.component}, with {grace}, on {self.target_description}"

    def replicas_hit(self) -> set[int]:
        return {int(replica.rsplit("-", 1)[1]) for replica in self.deleted if replica.startswith("app-")}

    def _cluster(self) -> KubernetesTarget:
        if self.target is None:
            raise ConfigError("a pod deletion rebuilt from the ledger can only be reverted")
        require(self.target, "pods")
        return self.target  # type: ignore[return-value]  # the capability says it is one

    def _apply(self) -> None:
        cluster = self._cluster()
        pods = cluster.pod_uids(self.component)
        if not pods:
            raise FaultNotObservedError(f"{self.describe()}: no pod of {self.component} runs; the fault cannot land")
        if self.component != "app":
            self.deleted = {replica: uid for replica, uid in pods.items()}
            cluster.delete_pods(self.component, grace=GRACE[self.signal_name])
            return
        replicas = sorted(pods, key=lambda name: int(name.rsplit("-", 1)[1]) if name[-1].isdigit() else -1)
        indices = self._indices(len(replicas))
        if self.blast_radius is not None:
            self.blast_radius.check(len(indices), len(replicas), self.describe())
        for index in indices:
            replica = replicas[index]
            [uid] = cluster.delete_pods("app", replica=int(replica.rsplit("-", 1)[1]), grace=GRACE[self.signal_name])
            self.deleted[replica] = uid

    def _observe(self) -> None:
        cluster = self._cluster()
        if not self.deleted:
            raise FaultNotObservedError(f"{self.describe()}: no pod was deleted; the fault did not land")
        timeout = OBSERVE_TIMEOUT_S + (30 if GRACE[self.signal_name] is None else 0)  # a graceful end takes longer
        deadline = time.monotonic() + timeout
        while (left := set(self.deleted.values()) & cluster.pods_present()) and time.monotonic() < deadline:
            time.sleep(0.05)
        if left:
            raise FaultNotObservedError(f"{self.describe()}: after {timeout:g}s pods {sorted(left)} are still in the "
                                        "API; the fault did not land")  # fmt: skip

    def _undo(self) -> None:
        if self.target is None or not self.deleted:
            return
        cluster = self._cluster()
        deadline = time.monotonic() + COME_BACK_TIMEOUT_S
        while True:
            now = cluster.pod_uids(self.component)
            running = {row.name for row in cluster.status() if row.component == self.component and row.running}
            waiting = sorted(replica for replica, uid in self.deleted.items()
                             if now.get(replica) in (None, uid) or replica not in running)  # fmt: skip
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise RevertError(f"{self.describe()}: {', '.join(waiting)} not held by a new running pod after "
                                  f"{COME_BACK_TIMEOUT_S:g}s")  # fmt: skip
            time.sleep(0.1)
