"""Systems under test behind one small interface: local processes now, Kubernetes later."""

from chaos.targets.base import Endpoints, ReplicaStatus, Target
from chaos.targets.local import LocalTarget

__all__ = ["Endpoints", "LocalTarget", "ReplicaStatus", "Target"]
