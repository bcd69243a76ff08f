"""A secret written plainly in the targets file: `drill run` refuses it up front, shows none of it, changes nothing.

Issue 23: a token in a notification URL used to be accepted and printed into the Allure results
through the target's repr. Each case runs the real ``drill run`` against the live sandbox of the
matrix (tests/bad_input/conftest.py) with a targets file of its own.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from tests.bad_input.conftest import drill_run_with

if TYPE_CHECKING:
    from pathlib import Path

    from tests.bad_input.conftest import Live

TOKEN = "Zq81nTw4Lk02Hs95Rv37Xp"  # 22 letters and digits, as a webhook token is
TARGET = ("targets:\n  sandbox:\n    kind: local\n    drill_allowed: true\n    replicas: 3\n"
          "    blast_radius: {max_replicas: 3, max_fraction: 1.0}\n    notifications:\n")  # fmt: skip


@pytest.mark.parametrize(
    ("destinations", "key", "what"),
    [
        (f"      team: ['mmost://chat.invalid/{TOKEN}']\n", "team[0]", "what looks like a token (a path segment)"),
        (f"      status: ['json://status.invalid/hook', 'json://status.invalid/hook?token={TOKEN}']\n", "status[1]",
         "the query parameter 'token'"),
        (f"      support: ['mailtos://oncall:{TOKEN}@smtp.invalid?to=oncall@example.com']\n", "support[0]",
         "a password (in user:password@)"),
    ],
    ids=["path-token", "query-token", "userinfo-password"],
)  # fmt: skip
def test_a_literal_secret_in_a_notification_url_is_refused(
    destinations: str, key: str, what: str, live: Live, tmp_path: Path
) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text(TARGET + destinations)
    scratch = tmp_path / "scratch"
    before = live.fingerprint()
    started = time.monotonic()
    result = drill_run_with(targets, scratch)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]
    assert f"{targets}: targets.sandbox.notifications.{key}: " in output, output[-3000:]
    assert what in output, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert TOKEN not in output
    assert time.monotonic() - started < 60  # refused up front, not after a run
    written = [path for path in scratch.rglob("*") if path.is_file()] if scratch.exists() else []
    assert not [path for path in written if TOKEN.encode() in path.read_bytes()]
    assert live.fingerprint() == before
