"""Recovery budgets: the plan's RTO and RPO tables, validated before anything runs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from chaos.errors import ConfigError

__all__ = [
    "DEFAULT_BUDGETS",
    "RPO_DATA_CLASSES",
    "RTO_COMPONENTS",
    "Budgets",
    "format_duration",
    "load_budgets",
    "parse_duration",
]

DEFAULT_BUDGETS = Path(__file__).resolve().parent.parent / "config" / "budgets.yaml"
RTO_COMPONENTS = (
    "application", "database", "monitoring", "analytics", "backup_systems", "development_environment",
)  # fmt: skip
RPO_DATA_CLASSES = (
    "user_data", "calendar_events", "system_configuration", "logs", "analytics", "development_data",
    "sessions",  # not in the plan's tables: Redis-held sessions, for drills that track them
)  # fmt: skip

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration(value: object) -> float:
    """Seconds from ``90``, ``"90s"``, ``"5m"``, ``"1h30m"`` or ``"250ms"``; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip().replace(" ", "")
        parts = _PART.findall(text)
        if "".join(number + unit for number, unit in parts) != text:
            raise ValueError(f"{value!r} is not a duration (examples: 90s, 5m, 1h30m)")
        seconds = sum(float(number) * _UNITS[unit] for number, unit in parts)
    else:
        raise ValueError(f"{value!r} is not a duration (examples: 90s, 5m, 1h30m)")
    if seconds < 0 or seconds != seconds:
        raise ValueError(f"{value!r} must be a non-negative duration")
    return seconds


def _plain(number: float) -> str:
    """A number without exponent notation, which ``parse_duration`` would refuse."""
    return f"{number:f}".rstrip("0").rstrip(".")


def format_duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{_plain(seconds / 3600)}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{_plain(seconds / 60)}m"
    return f"{_plain(seconds)}s"


@dataclass(frozen=True)
class Budgets:
    source: Path
    profile: str
    description: str
    rto: dict[str, float]
    rpo: dict[str, float]

    def rto_for(self, component: str) -> float:
        if component not in self.rto:
            raise ConfigError(f"{self.source}: profile {self.profile!r} has no RTO budget for {component!r}")
        return self.rto[component]

    def rpo_for(self, data_class: str) -> float:
        if data_class not in self.rpo:
            raise ConfigError(f"{self.source}: profile {self.profile!r} has no RPO budget for {data_class!r}")
        return self.rpo[data_class]


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _mapping(node: yaml.Node, where: str, source: Path) -> dict[str, tuple[yaml.Node, int]]:
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(f"{source}:{_line(node)}: {where} must be a mapping")
    items: dict[str, tuple[yaml.Node, int]] = {}
    for key, value in node.value:
        items[str(key.value)] = (value, _line(key))
    return items


def _table(node: yaml.Node, where: str, known: tuple[str, ...], source: Path) -> dict[str, float]:
    table: dict[str, float] = {}
    for name, (value, line) in _mapping(node, where, source).items():
        if name not in known:
            raise ConfigError(f"{source}:{line}: {where}.{name}: unknown name {name!r}; known: {', '.join(known)}")
        raw: Any = yaml.safe_load(yaml.serialize(value))
        try:
            table[name] = parse_duration(raw)
        except ValueError as exc:
            raise ConfigError(f"{source}:{line}: {where}.{name}: {exc}") from None
    return table


def load_budgets(path: Path, profile: str) -> Budgets:
    """Load and validate one profile; every error names the file, line and key."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"budgets file {path}: cannot read it: {exc.strerror}") from None
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"budgets file {path}: not valid YAML: {exc}") from None
    if root is None:
        raise ConfigError(f"budgets file {path}: empty; expected a 'profiles' mapping")
    top = _mapping(root, "top level", path)
    if "profiles" not in top:
        raise ConfigError(f"{path}: missing key 'profiles'")
    profiles = _mapping(top["profiles"][0], "profiles", path)
    if profile not in profiles:
        raise ConfigError(f"{path}: no profile {profile!r}; profiles here: {', '.join(sorted(profiles))}")
    node, _ = profiles[profile]
    where = f"profiles.{profile}"
    body = _mapping(node, where, path)
    for key, (_, line) in body.items():
        if key not in ("description", "rto", "rpo"):
            raise ConfigError(f"{path}:{line}: {where}.{key}: unknown key; expected description, rto, rpo")
    description_node = body.get("description")
    return Budgets(
        source=path,
        profile=profile,
        description=str(description_node[0].value) if description_node else "",
        rto=_table(body["rto"][0], f"{where}.rto", RTO_COMPONENTS, path) if "rto" in body else {},
        rpo=_table(body["rpo"][0], f"{where}.rpo", RPO_DATA_CLASSES, path) if "rpo" in body else {},
    )
