"""`pytest -m <marker>` selects exactly the scenarios tagged with that marker, for every registered marker."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOT_DISASTERS = {"drill", "integration", "kubernetes"}  # kubernetes: tests that need the local cluster


def registered_markers() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    return [line.split(":", 1)[0] for line in config["markers"]]


def tagged_scenarios(marker: str) -> int:
    """How many test cases the feature files tag with ``marker``: one per scenario, one per outline example."""
    count = 0
    for feature in sorted((ROOT / "features").glob("*.feature")):
        tags: set[str] = set()
        in_examples = tagged = False
        rows = 0
        for line in [*feature.read_text().splitlines(), ""]:
            text = line.strip()
            if text.startswith("@"):
                tags = {tag.lstrip("@") for tag in text.split()}
            elif text.startswith(("Scenario:", "Scenario Outline:")):
                tagged, in_examples = marker in tags, False
                count += tagged and text.startswith("Scenario:")
            elif text.startswith("Examples:"):
                in_examples, rows = True, -1  # the first row is the header
            elif in_examples and text.startswith("|"):
                rows += 1
            elif in_examples:
                count += rows if tagged else 0
                in_examples = False
    return count


def test_every_disaster_type_has_a_marker() -> None:
    markers = set(registered_markers())
    for feature in (ROOT / "features").glob("*.feature"):
        assert feature.stem in markers, f"{feature.name}: no marker {feature.stem!r} registered in pyproject.toml"


@pytest.mark.parametrize("marker", [m for m in registered_markers() if m not in NOT_DISASTERS])
def test_marker_selects_exactly_its_scenarios(marker: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", marker, "--dry-run", "-p", "no:cacheprovider",
         f"--workdir={tmp_path / 'runs'}", f"--ledger-dir={tmp_path / 'ledger'}", "features/"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    planned = re.findall(r"^\S.*: .*  \[(@[^\]]+)\]$", result.stdout, flags=re.MULTILINE)
    expected = tagged_scenarios(marker)
    assert expected > 0, f"no scenario is tagged @{marker}"
    assert len(planned) == expected, f"-m {marker} planned {len(planned)} scenarios, {expected} are tagged"
    assert all(f"@{marker}" in tags.split() for tags in planned)
