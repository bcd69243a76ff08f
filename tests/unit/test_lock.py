"""requirements.lock holds every dependency pyproject.toml names, at a version pyproject.toml allows."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^(?P<name>[A-Za-z0-9._-]+)==(?P<version>[^\s;\\]+)(?:\s*;\s*(?P<marker>[^\\]+?))?\s*\\?$")


def _locked() -> dict[str, list[tuple[str, str]]]:
    """Each locked package's pins (version, environment marker): a universal lock may pin one per Python."""
    pins: dict[str, list[tuple[str, str]]] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        match = PIN.match(line)
        if match:
            pins.setdefault(canonicalize_name(match["name"]), []).append((match["version"], match["marker"] or ""))
    return pins


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [dep for group in project["optional-dependencies"].values() for dep in group]
    return [Requirement(dep) for dep in (*project["dependencies"], *extras)]


def test_every_declared_dependency_is_locked_within_its_range() -> None:
    locked = _locked()
    problems = []
    for requirement in _declared():
        pins = locked.get(canonicalize_name(requirement.name))
        if not pins:
            problems.append(f"{requirement}: not in requirements.lock")
            continue
        problems += [f"{requirement}: locked at {version}" for version, _ in pins
                     if not requirement.specifier.contains(version, prereleases=True)]  # fmt: skip
    assert problems == [], "run scripts/lock.sh: " + "; ".join(problems)


def test_every_pin_carries_a_hash() -> None:
    text = (ROOT / "requirements.lock").read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    pinned = [block for block in blocks if PIN.match(block.splitlines()[0])]
    assert [block.split()[0] for block in pinned if "--hash=sha256:" not in block] == []
    assert len(pinned) > 50  # the parse found the lock's pins, not nothing


def test_the_installer_is_pinned_with_its_hashes() -> None:
    # scripts/setup.sh installs uv from this file, and uv the lock: nothing unpinned installs the rest.
    lines = [line for line in (ROOT / "scripts" / "uv.requirements").read_text().splitlines()
             if line and not line.startswith("#")]  # fmt: skip
    pins = [line for line in lines if PIN.match(line)]
    assert [PIN.match(line)["name"] for line in pins] == ["uv"]  # type: ignore[index]
    assert sum("--hash=sha256:" in line for line in lines) >= 10  # a wheel per platform, each with its hash
