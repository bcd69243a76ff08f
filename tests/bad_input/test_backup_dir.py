"""A backup_dir the store did not make: `drill run` refuses it up front, naming the file and field, and
touches nothing in it (issue 23: `/`, '' or reports/ used to be accepted, and the store would have
chmodded it 0700 and pruned every directory in it but the newest three).

Each case runs the real ``drill run`` against the live sandbox of the matrix (tests/bad_input/conftest.py).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.bad_input.conftest import drill_run_with

if TYPE_CHECKING:
    from tests.bad_input.conftest import Live

ROOT = Path(__file__).resolve().parents[2]
TARGET = ("targets:\n  sandbox:\n    kind: local\n    drill_allowed: true\n    replicas: 3\n"
          "    blast_radius: {max_replicas: 3, max_fraction: 1.0}\n    backup_dir: '{dir}'\n")  # fmt: skip


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` (one level deep is enough for these) with its mode and size."""
    if not root.is_dir():
        return {str(root): (root.stat().st_mode, root.stat().st_size)} if root.exists() else {}
    return {str(path): (path.stat().st_mode, path.stat().st_size) for path in [root, *root.iterdir()]}


def _photos(tmp_path: Path) -> Path:
    for number in range(4):
        (tmp_path / "photos" / f"album-{number}").mkdir(parents=True)
        (tmp_path / "photos" / f"album-{number}" / "a.jpg").write_bytes(b"mine")
    (tmp_path / "photos").chmod(0o755)
    return tmp_path / "photos"


CASES = {
    "root": (lambda tmp: "/", "a system directory"),
    "empty": (lambda tmp: "", "the checkout"),
    "reports": (lambda tmp: "reports", "the reports"),
    "tmp": (lambda tmp: "/tmp", "a system directory"),
    "home": (lambda tmp: str(Path.home()), "a home directory"),
    "a-file": (lambda tmp: str(ROOT / "README.md"), "not a directory"),
    "someone-elses-directory": (lambda tmp: str(_photos(tmp)), "not a backup store"),
}


@pytest.mark.parametrize("case", CASES)
def test_a_backup_dir_the_store_did_not_make_is_refused(case: str, live: Live, tmp_path: Path) -> None:
    make, why = CASES[case]
    given = make(tmp_path)
    targets = tmp_path / "targets.yaml"
    targets.write_text(TARGET.replace("{dir}", given))
    held = (ROOT / given) if given and not given.startswith("/") else Path(given or ".")
    before = _tree(held.resolve())
    scratch = tmp_path / "scratch"
    fingerprint = live.fingerprint()
    started = time.monotonic()
    result = drill_run_with(targets, scratch)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]
    assert f"{targets}: targets.sandbox.backup_dir: " in output, output[-3000:]
    assert why in output, output[-3000:]
    assert "nothing was started" in output
    assert "Traceback" not in output, output[-3000:]
    assert time.monotonic() - started < 60  # refused up front
    assert _tree(held.resolve()) == before  # modes and sizes as they were: nothing chmodded, pruned or marked
    assert not (held.resolve() / ".chaos-drill-store").exists()
    assert live.fingerprint() == fingerprint
