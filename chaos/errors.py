"""Every error the framework raises on purpose.

    ChaosError
    ├── ConfigError                 bad input: budgets file, drill config, CLI arguments
    ├── ToolNotFoundError           a server binary is missing; names it and how to get it
    ├── TargetError                 the system under test misbehaved
    │   ├── StartupError            a component did not become ready in time
    │   ├── ComponentError          an operation on a component failed
    │   └── UnsupportedError        the target cannot do this at all (a capability it lacks)
    ├── FaultNotObservedError       a fault was sent but its effect was not seen: the drill is inconclusive
    ├── RevertError                 a fault could not be reverted; names what is left as the fault left it
    ├── SafetyError                 the target does not allow drills, or a fault exceeds its blast radius
    ├── ToxiproxyError              the Toxiproxy API refused or did not confirm a change
    ├── BackupError
    │   └── BackupVerificationError a backup is corrupt, truncated or does not match its manifest
    └── WaitTimeoutError            a condition was not met before its deadline

Messages name what was attempted, on which target, what was observed, and end
with a hint where one helps.
"""

from __future__ import annotations

__all__ = [
    "BackupError",
    "BackupVerificationError",
    "ChaosError",
    "ComponentError",
    "ConfigError",
    "FaultNotObservedError",
    "RevertError",
    "SafetyError",
    "StartupError",
    "TargetError",
    "ToolNotFoundError",
    "ToxiproxyError",
    "UnsupportedError",
    "WaitTimeoutError",
]


class ChaosError(Exception):
    """Base class of the framework's own errors."""


class ConfigError(ChaosError):
    """A configuration file or argument is invalid; nothing has been injected."""


class ToolNotFoundError(ChaosError):
    """A required executable is not installed."""


class TargetError(ChaosError):
    """The system under test could not be operated as asked."""


class StartupError(TargetError):
    """A component did not become ready in time."""


class ComponentError(TargetError):
    """An operation on one component failed."""


class UnsupportedError(TargetError):
    """The target lacks a capability a step needs: the drill is unsupported there, neither passed nor failed."""


class FaultNotObservedError(ChaosError):
    """The fault was sent but its effect was not observed: the drill cannot be judged."""


class RevertError(ChaosError):
    """A fault could not be put back: what it changed is still changed, and the message says what."""


class SafetyError(ChaosError):
    """Refused before anything was injected: not drill-allowed, or beyond the blast radius."""


class ToxiproxyError(ChaosError):
    """The Toxiproxy server refused a change or did not read it back as requested."""


class BackupError(ChaosError):
    """A backup or restore could not be completed."""


class BackupVerificationError(BackupError):
    """A backup does not match its manifest: corrupt, truncated or incomplete."""


class WaitTimeoutError(ChaosError):
    """A waited-for condition did not hold before the deadline."""
