"""The sandbox with a Redis password keeps it out of its logs and command lines; its logs are its owner's (issue 23).

The app used to print its Redis URL, password included, at start-up into ``logs/app-N.log``
(0644): the password now shows as ``***``, and every file the sandbox writes under ``logs/``, and
the Redis password file, is 0600.
"""

from __future__ import annotations

import secrets
import stat
from typing import TYPE_CHECKING

import redis

from chaos.servers.process import process_cmdline
from chaos.targets.local import LocalTarget
from chaos.wait import wait_for

if TYPE_CHECKING:
    from pathlib import Path


def test_the_password_is_in_no_log_nor_command_line_and_logs_are_0600(tmp_path: Path) -> None:
    tail = secrets.token_hex(12)
    password = f'p w"@/\\{tail}'  # a space, a quote, an @, a / and a backslash: quoted in URLs and the file
    target = LocalTarget(tmp_path / "runs", replicas=1, monitoring=False, redis_password=password)
    target.start()
    try:
        client = redis.Redis.from_url(target.endpoints.redis_url, socket_timeout=5)
        assert client.ping()  # the Redis really requires the seeded password
        client.close()
        logs = target.run_dir / "logs"
        app_log = logs / "app-0.log"
        wait_for(lambda: "Redis redis://:***@" in app_log.read_text(), what="the app to log where it connects",
                 timeout=10)  # fmt: skip
        written = sorted(path for path in logs.iterdir() if path.is_file())
        assert {path.name for path in written} >= {"app-0.log", "redis.log", "mongodb.log", "toxiproxy.log"}
        for path in written:
            assert password not in path.read_text(errors="replace"), path
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        auth = target.run_dir / "redis-auth.conf"
        assert tail in auth.read_text()  # written there, escaped for Redis's config syntax
        assert stat.S_IMODE(auth.stat().st_mode) == 0o600
        assert password not in (target.run_dir / "run.json").read_text()  # the children's command lines
        for row in target.status():
            assert row.pid is not None
            assert password not in " ".join(process_cmdline(row.pid) or ()), row.name
    finally:
        target.close()
