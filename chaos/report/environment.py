"""What a run was made on: target, component versions, code revision, budgets and plan — each observed.

Versions are asked of the binaries themselves; a tool that does not answer is
reported as ``unknown (<why>)``, never guessed.
"""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from chaos.errors import ToolNotFoundError
from chaos.recovery.files import sha256_file
from chaos.tools import PROMETHEUS, REDIS_SERVER, TOXIPROXY_SERVER, find_mongo_server, find_tool

if TYPE_CHECKING:
    from collections.abc import Callable

    from chaos.config import Budgets

__all__ = ["DEFAULT_PLAN", "run_environment"]

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PLAN = ROOT / "docs" / "dr-plan.md"


def _run(argv: list[str]) -> tuple[int | None, str]:
    """Exit code (None if it could not run) and the first line of output."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, type(exc).__name__
    lines = (done.stdout or done.stderr).strip().splitlines()
    return done.returncode, lines[0].strip() if lines else ""


def _version(find: Callable[[], Path], flag: str) -> str:
    try:
        binary = find()
    except ToolNotFoundError:
        return "unknown (not found)"
    code, line = _run([str(binary), flag])
    return line if code == 0 and line else f"unknown ({line or f'exit {code}'})"


def _mongo_version() -> tuple[str, str]:
    try:
        kind, binary = find_mongo_server()
    except ToolNotFoundError:
        return "mongodb", "unknown (not found)"
    return kind, _version(lambda: binary, "--version")


def _git_revision() -> str:
    code, sha = _run(["git", "-C", str(ROOT), "rev-parse", "HEAD"])
    if code != 0:
        return "unknown (not a git checkout)"
    code, changed = _run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"])
    return sha if code == 0 and not changed else f"{sha} (with uncommitted changes)"


def run_environment(
    *, target: str, budgets: Budgets, plan: Path = DEFAULT_PLAN, app_version: str = ""
) -> dict[str, str]:
    """Flat name -> value pairs, as Allure's environment.properties and the compliance report show them."""
    mongo_kind, mongo_version = _mongo_version()
    environment = {
        "target": target,
        "git revision": _git_revision(),
        "budgets profile": budgets.profile,
        "budgets file": str(budgets.source),
        "budgets file sha256": sha256_file(Path(budgets.source)),
        "dr plan": str(plan),
        "dr plan sha256": sha256_file(plan) if plan.is_file() else "unknown (file missing)",
        "python": platform.python_version(),
        "redis-server": _version(lambda: find_tool(REDIS_SERVER), "--version"),
        mongo_kind: mongo_version,
        "toxiproxy-server": _version(lambda: find_tool(TOXIPROXY_SERVER), "-version"),
        "prometheus": _version(lambda: find_tool(PROMETHEUS), "--version"),
    }
    if app_version:
        environment["calendar-assistant"] = app_version
    return environment
