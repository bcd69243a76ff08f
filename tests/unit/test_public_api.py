"""Every module of the library declares its public names: in order, and each one really there."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import chaos


def _isort_style(name: str) -> tuple[int, str]:
    """Constants, then classes, then functions: the order ruff's RUF022 keeps."""
    if name.isupper():
        return 0, name
    return (1 if name[0].isupper() else 2), name


MODULES = sorted(info.name for info in pkgutil.walk_packages(chaos.__path__, "chaos.") if info.name != "chaos.cli")


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_resolves(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert list(exported) == sorted(exported, key=_isort_style), f"{name}.__all__ is not sorted"
    missing = [item for item in exported if not hasattr(module, item)]
    assert missing == [], f"{name}.__all__ names what it does not define: {missing}"
