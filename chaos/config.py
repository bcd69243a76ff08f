"""Recovery budgets: the plan's RTO and RPO tables, validated before anything runs."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from chaos.errors import ConfigError
from chaos.yamlfile import check_unique, compose_file

__all__ = [
    "COMMUNICATION_STEPS",
    "DEFAULT_AVAILABILITY",
    "DEFAULT_BUDGETS",
    "DEFAULT_COMMUNICATION",
    "RPO_DATA_CLASSES",
    "RTO_COMPONENTS",
    "AvailabilityBudget",
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
# The communication plan's steps, timed from the fault's detection (the plan gives no figure: see README).
COMMUNICATION_STEPS = ("team_notified", "status_updated")
DEFAULT_COMMUNICATION = {"team_notified": 300.0, "status_updated": 900.0}
# What the users of a drill's crowd may see once the service is back (the plan gives no figure: see README).
USERS_BUDGETS = ("p95_latency",)
DEFAULT_USERS = {"p95_latency": 0.2}

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
MAX_DURATION_S = 366 * 86400.0  # no recovery objective is longer than a year; a larger one is a typo
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
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{value!r} must be a finite, non-negative duration")
    if seconds > MAX_DURATION_S:
        raise ValueError(f"{value!r} is longer than a year (366d): not a plausible recovery objective")
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
class AvailabilityBudget:
    """At most ``max_failed`` (a fraction) of one replica's probes may fail in any ``window_s`` seconds."""

    max_failed: float = 0.01
    window_s: float = 10.0

    def describe(self) -> str:
        return f"at most {self.max_failed:.1%} of a replica's probes failed in any {self.window_s:g}s window"


DEFAULT_AVAILABILITY = AvailabilityBudget()


@dataclass(frozen=True)
class Budgets:
    source: Path
    profile: str
    description: str
    rto: dict[str, float]
    rpo: dict[str, float]
    availability: AvailabilityBudget = DEFAULT_AVAILABILITY
    communication: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_COMMUNICATION))
    users: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_USERS))

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
    try:
        check_unique(node)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}:{exc.problem_mark.line + 1}: {where}: {exc.problem}") from None  # type: ignore[attr-defined]
    items: dict[str, tuple[yaml.Node, int]] = {}
    for key, value in node.value:
        items[str(key.value)] = (value, _line(key))
    return items


def _scalar(node: yaml.Node, where: str, source: Path) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise ConfigError(f"{source}:{_line(node)}: {where}: expected a single value")
    return yaml.safe_load(yaml.serialize(node))


def _table(
    node: yaml.Node, where: str, known: tuple[str, ...], source: Path, *, positive: bool = False
) -> dict[str, float]:
    table: dict[str, float] = {}
    for name, (value, line) in _mapping(node, where, source).items():
        if name not in known:
            raise ConfigError(f"{source}:{line}: {where}.{name}: unknown name {name!r}; known: {', '.join(known)}")
        try:
            table[name] = parse_duration(_scalar(value, f"{where}.{name}", source))
            if positive and table[name] == 0:
                raise ValueError("must be longer than 0s")
        except ValueError as exc:
            raise ConfigError(f"{source}:{line}: {where}.{name}: {exc}") from None
    return table


def _fraction(value: object) -> float:
    """A fraction from ``0.01`` or ``"1%"``; ValueError otherwise (a bool is not a number here)."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            number = float(value.strip()[:-1]) / 100
        except ValueError:
            raise ValueError(f"{value!r} is not a percentage (example: 1%)") from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        raise ValueError(f"{value!r} is not a fraction (examples: 0.01, 1%)")
    if not 0 <= number < 1:
        raise ValueError(f"{value!r} must be at least 0 and below 100%")
    return number


def _availability(node: yaml.Node, where: str, source: Path) -> AvailabilityBudget:
    values: dict[str, float] = {}
    for name, (value, line) in _mapping(node, where, source).items():
        raw = _scalar(value, f"{where}.{name}", source)
        try:
            if name == "max_failed":
                values["max_failed"] = _fraction(raw)
            elif name == "window":
                values["window_s"] = parse_duration(raw)
                if values["window_s"] <= 0:
                    raise ValueError(f"{raw!r} must be longer than 0s")
            else:
                raise ValueError("unknown key; expected max_failed, window")
        except ValueError as exc:
            raise ConfigError(f"{source}:{line}: {where}.{name}: {exc}") from None
    return AvailabilityBudget(**values)


def load_budgets(path: Path, profile: str) -> Budgets:
    """Load and validate one profile; every error names the file, line and key."""
    root = compose_file(path, "budgets file")
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
        if key not in ("description", "rto", "rpo", "availability", "communication", "users"):
            raise ConfigError(f"{path}:{line}: {where}.{key}: unknown key; expected description, rto, rpo, "
                              "availability, communication, users")  # fmt: skip
    description_node = body.get("description")
    return Budgets(
        source=path,
        profile=profile,
        description=str(_scalar(description_node[0], f"{where}.description", path)) if description_node else "",
        rto=_table(body["rto"][0], f"{where}.rto", RTO_COMPONENTS, path, positive=True) if "rto" in body else {},
        rpo=_table(body["rpo"][0], f"{where}.rpo", RPO_DATA_CLASSES, path) if "rpo" in body else {},
        availability=_availability(body["availability"][0], f"{where}.availability", path)
        if "availability" in body
        else DEFAULT_AVAILABILITY,
        communication=DEFAULT_COMMUNICATION
        | _table(body["communication"][0], f"{where}.communication", COMMUNICATION_STEPS, path, positive=True)
        if "communication" in body
        else dict(DEFAULT_COMMUNICATION),
        users=DEFAULT_USERS | _table(body["users"][0], f"{where}.users", USERS_BUDGETS, path, positive=True)
        if "users" in body
        else dict(DEFAULT_USERS),
    )
