"""Integration tests start real servers; each gets its own sandbox in a temporary directory."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from chaos.targets.local import LocalTarget

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in item.nodeid:
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[LocalTarget]:
    target = LocalTarget(tmp_path / "runs", replicas=3)
    target.start()
    try:
        yield target
    finally:
        target.close()
