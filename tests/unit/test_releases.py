"""The release history every target keeps, as Helm does: deploys stack up, a rollback returns one."""

from __future__ import annotations

import pytest

from chaos.errors import ComponentError
from chaos.targets.base import Releases


def test_a_rollback_returns_to_the_release_before_the_latest() -> None:
    releases = Releases()
    assert releases.current == {"version": "1.0.0", "defect": ""}
    releases.push("1.1.0", "")
    releases.push("9.9.9", "crash-at-start")
    assert releases.current == {"version": "9.9.9", "defect": "crash-at-start"}
    assert releases.pop() == "1.1.0"
    assert releases.current == {"version": "1.1.0", "defect": ""}
    assert releases.pop() == "1.0.0"


def test_the_first_release_has_nothing_to_roll_back_to() -> None:
    releases = Releases()
    with pytest.raises(ComponentError, match=r"release 1\.0\.0 has no previous release"):
        releases.require_previous()
    with pytest.raises(ComponentError, match="no previous release"):
        releases.pop()
    assert releases.current["version"] == "1.0.0"


def test_the_current_release_is_a_copy() -> None:
    releases = Releases()
    releases.current["version"] = "changed"
    assert releases.current["version"] == "1.0.0"
