"""Which targets drills may run against, and how much a fault may take down there."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaos.config import parse_duration
from chaos.errors import ConfigError
from chaos.faults.process import BlastRadius
from chaos.measure.probe import DEFAULT_TIMEOUT_S
from chaos.notify import NotificationSettings, parse_notifications
from chaos.yamlfile import load_file

if TYPE_CHECKING:
    from chaos.ownership import Owners
    from chaos.targets.base import Target

__all__ = [
    "DEFAULT_TARGETS",
    "KINDS",
    "KubernetesSettings",
    "TargetConfig",
    "build_target",
    "capabilities_of",
    "load_target",
    "target_names",
]

DEFAULT_TARGETS = Path(__file__).resolve().parent.parent.parent / "config" / "targets.yaml"
KINDS = ("local", "docker", "kubernetes")


def capabilities_of(kind: str) -> frozenset[str]:
    """What a target of ``kind`` can do beyond the common operations (see chaos.targets.base)."""
    if kind == "docker":
        from chaos.targets.docker import DockerTarget  # the targets import this module's users

        return DockerTarget.capabilities
    if kind == "kubernetes":
        from chaos.targets.kubernetes import KubernetesTarget

        return KubernetesTarget.capabilities
    from chaos.targets.local import LocalTarget

    return LocalTarget.capabilities


KEYS = ("kind", "drill_allowed", "replicas", "blast_radius", "redis_password_env", "probe_timeout", "images",
        "backup_dir", "backup_keep_runs", "kubeconfig", "context", "namespace", "node_local",
        "notifications")  # fmt: skip
KUBERNETES_KEYS = ("kubeconfig", "context", "namespace", "node_local")
DEFAULT_BACKUP_DIR = Path(".drill") / "backups"
IMAGE_SETS = ("local", "upstream")  # chaos.targets.images
MAX_PROBE_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class TargetConfig:
    name: str
    kind: str
    drill_allowed: bool
    replicas: int
    blast_radius: BlastRadius
    source: Path
    # From the environment variable the file names, never from the file; never in a repr, which reports
    # (Allure's step parameters among them) may print.
    redis_password: str | None = field(default=None, repr=False)
    probe_timeout: float = DEFAULT_TIMEOUT_S  # how long a probe waits for an answer on this target
    images: str = "local"  # the Docker target's image set
    backup_dir: Path = DEFAULT_BACKUP_DIR  # where drills keep their backups: never under reports/
    backup_keep_runs: int = 3  # the runs whose backups are kept; older ones are removed
    kubernetes: KubernetesSettings | None = None  # a kubernetes target's cluster, context and namespace
    # The communication plan's destinations (chaos.notify); none by default. Secrets stay ${VARIABLES}.
    notifications: NotificationSettings = field(default_factory=NotificationSettings)


@dataclass(frozen=True)
class KubernetesSettings:
    context: str
    namespace: str  # each run installs into <namespace>-<run id>, and removes it after
    kubeconfig: Path | None = None  # None: $KUBECONFIG, else ~/.kube/config
    node_local: bool = False  # the drill runs on the cluster's only node: container pids, hostPath data, pause


def _field(data: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in data:
        raise ConfigError(f"{where}: missing key {key!r}")
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{where}.{key}: expected {kind.__name__}, got {value!r}")
    return value


def target_names(path: Path) -> list[str]:
    """The names of the targets ``path`` holds; ConfigError if it is not a targets file."""
    data = load_file(path, "targets file")
    targets = data.get("targets") if isinstance(data, dict) else None
    if not isinstance(targets, dict):
        raise ConfigError(f"{path}: expected a 'targets' mapping")
    return sorted(map(str, targets))


def load_target(path: Path, name: str, *, secrets: bool = True) -> TargetConfig:
    """Load and validate one target; errors name the file and the key.

    Without ``secrets`` the Redis password is not read (nor required): what a sweep needs to know of a target.
    """
    data = load_file(path, "targets file")
    targets = data.get("targets") if isinstance(data, dict) else None
    if not isinstance(targets, dict):
        raise ConfigError(f"{path}: expected a 'targets' mapping")
    if name not in targets:
        raise ConfigError(f"{path}: no target {name!r}; targets here: {', '.join(sorted(targets))}")
    where = f"{path}: targets.{name}"
    entry = targets[name]
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a mapping")
    unknown = sorted(set(entry) - set(KEYS))
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown key; expected {', '.join(KEYS)}")
    kind = _field(entry, "kind", str, where)
    if kind not in KINDS:
        raise ConfigError(f"{where}.kind: {kind!r} is not supported; supported: {', '.join(KINDS)}")
    replicas = _field(entry, "replicas", int, where)
    if not 1 <= replicas <= 16:
        raise ConfigError(f"{where}.replicas: {replicas} is outside 1..16")
    radius = _field(entry, "blast_radius", dict, where)
    max_replicas = _field(radius, "max_replicas", int, f"{where}.blast_radius")
    max_fraction = radius.get("max_fraction", 1.0)
    unknown = sorted(set(radius) - {"max_replicas", "max_fraction"})
    if unknown:
        raise ConfigError(f"{where}.blast_radius.{unknown[0]}: unknown key; expected max_replicas, max_fraction")
    if isinstance(max_fraction, bool) or not isinstance(max_fraction, int | float):
        raise ConfigError(f"{where}.blast_radius.max_fraction: expected a number in (0, 1], got {max_fraction!r}")
    if not 0 < max_fraction <= 1 or max_replicas < 0:
        raise ConfigError(f"{where}.blast_radius: max_replicas must be >= 0 and max_fraction in (0, 1]")
    password = None
    if "redis_password_env" in entry:
        variable = _field(entry, "redis_password_env", str, where)
        password = os.environ.get(variable) if secrets else None
        if secrets and not password:
            raise ConfigError(f"{where}.redis_password_env: the environment variable {variable} is not set "
                              "(the password is read from it, never from this file)")  # fmt: skip
    probe_timeout = DEFAULT_TIMEOUT_S
    if "probe_timeout" in entry:
        try:
            probe_timeout = parse_duration(entry["probe_timeout"])
        except ValueError as exc:
            raise ConfigError(f"{where}.probe_timeout: {exc}") from None
        if not 0 < probe_timeout <= MAX_PROBE_TIMEOUT_S:
            raise ConfigError(f"{where}.probe_timeout: must be longer than 0s and at most {MAX_PROBE_TIMEOUT_S:g}s")
    images = "local"
    if "images" in entry:
        if kind != "docker":
            raise ConfigError(f"{where}.images: only a docker target has image sets")
        images = _field(entry, "images", str, where)
        if images not in IMAGE_SETS:
            raise ConfigError(f"{where}.images: {images!r} is not an image set; sets: {', '.join(IMAGE_SETS)}")
    kubernetes = _kubernetes(entry, kind, where)
    backup_dir = Path(_field(entry, "backup_dir", str, where)) if "backup_dir" in entry else DEFAULT_BACKUP_DIR
    keep = _field(entry, "backup_keep_runs", int, where) if "backup_keep_runs" in entry else 3
    if not 1 <= keep <= 1000:
        raise ConfigError(f"{where}.backup_keep_runs: {keep} is outside 1..1000")
    return TargetConfig(name, kind, _field(entry, "drill_allowed", bool, where), replicas,
                        BlastRadius(max_replicas, float(max_fraction)), path, password, probe_timeout,
                        images, backup_dir, keep, kubernetes,
                        parse_notifications(entry.get("notifications"), where))  # fmt: skip


NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?")


def _kubernetes(entry: dict[str, Any], kind: str, where: str) -> KubernetesSettings | None:
    given = [key for key in KUBERNETES_KEYS if key in entry]
    if kind != "kubernetes":
        if given:
            raise ConfigError(f"{where}.{given[0]}: only a kubernetes target has it")
        return None
    context = _field(entry, "context", str, where)
    namespace = _field(entry, "namespace", str, where)
    if not NAMESPACE.fullmatch(namespace):
        raise ConfigError(f"{where}.namespace: {namespace!r} must be lower-case letters, digits and '-', at most "
                          "40 characters (the run id is appended)")  # fmt: skip
    kubeconfig = Path(_field(entry, "kubeconfig", str, where)).expanduser() if "kubeconfig" in entry else None
    node_local = _field(entry, "node_local", bool, where) if "node_local" in entry else False
    return KubernetesSettings(context, namespace, kubeconfig, node_local)


def build_target(config: TargetConfig, *, workdir: Path, keep: bool = False, owners: Owners | None = None) -> Target:
    """The target ``config`` describes, not started yet; ``owners`` holds the claims of the objects it makes."""
    if config.kind == "kubernetes":
        from chaos.targets.kubernetes import KubernetesTarget

        assert config.kubernetes is not None
        settings = config.kubernetes
        return KubernetesTarget(context=settings.context, namespace=settings.namespace,
                                kubeconfig=settings.kubeconfig, replicas=config.replicas,
                                node_local=settings.node_local, redis_password=config.redis_password,
                                owners=owners)  # fmt: skip
    if config.kind == "docker":
        from chaos.targets.docker import DockerTarget

        return DockerTarget(replicas=config.replicas, images=config.images, redis_password=config.redis_password,
                            owners=owners)  # fmt: skip
    from chaos.targets.local import LocalTarget

    return LocalTarget(workdir, replicas=config.replicas, keep=keep, redis_password=config.redis_password)
