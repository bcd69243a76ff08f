"""Redis backup, verification and restore.

The backup is a consistent RDB snapshot fetched over the replication protocol
(``SYNC``), so it needs only network access to the server, not its disk. A
manifest records its SHA-256 and the key and expiry counts that
``redis-check-rdb`` reads from it.

Restore verifies the backup first and refuses to replace a Redis that holds
keys with a backup that holds none, unless told to. It has the live server
save its state, stops it, moves its data files aside (kept), puts the RDB in
their place, starts it and checks that it loaded every key; if anything
fails, the restored files go and the kept ones are put back and started.
Only after a checked restore are the kept files removed.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import redis

from chaos.errors import BackupError, BackupVerificationError, SafetyError
from chaos.recovery.files import CHUNK, copy_atomically, new_output_dir, sha256_file
from chaos.targets.base import is_running
from chaos.tools import REDIS_CHECK_RDB, find_tool

if TYPE_CHECKING:
    from pathlib import Path

    from chaos.targets.base import Target

__all__ = ["RedisBackup", "backup_redis", "restore_redis", "verify_redis_backup"]

MANIFEST = "manifest.json"
RDB = "dump.rdb"


@dataclass(frozen=True)
class RedisBackup:
    path: Path
    source: str
    created_at: float
    sha256: str
    size: int
    keys: int
    expires: int

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "created_at": self.created_at, "file": RDB, "sha256": self.sha256,
                "size": self.size, "keys": self.keys, "expires": self.expires}  # fmt: skip


def _fetch_rdb(url: str, out: Path, timeout: float) -> None:
    """Ask the server for a full resynchronisation and keep the RDB it sends."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=timeout) as sock:
        if parts.password:
            user = f"{parts.username} " if parts.username else ""
            sock.sendall(f"AUTH {user}{parts.password}\r\n".encode())
            if not sock.makefile("rb").readline().startswith(b"+OK"):
                raise BackupError(f"Redis at {parts.hostname}:{parts.port} refused AUTH")
        sock.sendall(b"SYNC\r\n")
        stream = sock.makefile("rb")
        header = stream.readline()
        while header in (b"\n", b"\r\n"):  # keep-alives while the server forks its snapshot
            header = stream.readline()
        with out.open("wb") as rdb:
            if header.startswith(b"$EOF:"):  # diskless replication: the payload ends with a 40-byte mark
                mark, tail = header[5:].strip(), b""
                while True:
                    chunk = stream.read1(CHUNK)
                    if not chunk:
                        raise BackupError("Redis closed the connection before the end of the RDB")
                    tail += chunk
                    if tail.endswith(mark):
                        rdb.write(tail[: -len(mark)])
                        return
                    rdb.write(tail[: -len(mark)])
                    tail = tail[-len(mark) :]
            if not header.startswith(b"$"):
                raise BackupError(f"Redis answered SYNC with {header[:80]!r}, not an RDB payload")
            remaining = int(header[1:].strip())
            while remaining:
                chunk = stream.read(min(CHUNK, remaining))
                if not chunk:
                    raise BackupError(f"Redis closed the connection with {remaining} bytes of the RDB unsent")
                rdb.write(chunk)
                remaining -= len(chunk)


def _check_rdb(path: Path) -> tuple[int, int]:
    """Run redis-check-rdb; return (keys, expires) or raise naming the file."""
    result = subprocess.run([str(find_tool(REDIS_CHECK_RDB)), str(path)], capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    keys, expires = re.search(r"(\d+) keys read", output), re.search(r"(\d+) expires", output)
    if result.returncode != 0 or "RDB looks OK" not in output or keys is None:
        last = "; ".join(line for line in output.splitlines()[-4:] if line.strip())
        raise BackupVerificationError(f"{path}: redis-check-rdb rejects it: {last}")
    return int(keys.group(1)), int(expires.group(1)) if expires else 0


def backup_redis(url: str, output: Path, *, timeout: float = 300.0) -> RedisBackup:
    """Fetch a consistent RDB snapshot from ``url`` into ``output`` (created; must be empty)."""
    with new_output_dir(output):
        parts = urlsplit(url)
        source = f"redis://{parts.hostname}:{parts.port}{parts.path}"
        try:
            _fetch_rdb(url, output / RDB, timeout)
        except OSError as exc:
            raise BackupError(f"Redis backup from {source} failed: {exc!r}") from exc
        keys, expires = _check_rdb(output / RDB)
        backup = RedisBackup(output, source, time.time(), sha256_file(output / RDB), (output / RDB).stat().st_size,
                             keys, expires)  # fmt: skip
        (output / MANIFEST).write_text(json.dumps(backup.to_json(), indent=2))
        return backup


def verify_redis_backup(backup_dir: Path) -> RedisBackup:
    """The RDB's SHA-256 and key count must match the manifest, and redis-check-rdb must accept it."""
    path = backup_dir / MANIFEST
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise BackupVerificationError(f"{path}: missing; not a Redis backup directory") from None
    except ValueError as exc:
        raise BackupVerificationError(f"{path}: unreadable manifest: {exc}") from None
    rdb = backup_dir / data.get("file", RDB)
    if not rdb.is_file():
        raise BackupVerificationError(f"{rdb}: missing")
    digest = sha256_file(rdb)
    if digest != data["sha256"]:
        raise BackupVerificationError(f"{rdb}: SHA-256 {digest[:12]}… differs from the manifest's "
                                      f"{data['sha256'][:12]}…; the file is corrupt or truncated")  # fmt: skip
    keys, expires = _check_rdb(rdb)
    if keys != data["keys"]:
        raise BackupVerificationError(f"{rdb}: {keys} keys, manifest says {data['keys']}")
    return RedisBackup(backup_dir, data["source"], data["created_at"], digest, data["size"], keys, expires)


DATA_FILES = (RDB, "appendonlydir", "appendonly.aof")  # an AOF, when present, is loaded instead of the RDB


def _live_keys(target: Target) -> int:
    """Keys the running Redis holds, after it saved them to its data directory; 0 when it is down."""
    if not is_running(target, "redis"):
        return 0
    client = redis.Redis.from_url(target.endpoints.redis_url, socket_timeout=30)
    try:
        keys = int(client.dbsize())
        client.save()  # what is live now is on disk now: the copy kept until the restore is checked
    finally:
        client.close()
    return keys


def _loaded(target: Target, backup: RedisBackup) -> int:
    client = redis.Redis.from_url(target.endpoints.redis_url, socket_timeout=10)
    try:
        loaded = int(client.dbsize())
    finally:
        client.close()
    if loaded < backup.keys - backup.expires or loaded > backup.keys:
        raise BackupError(f"Redis holds {loaded} keys after the restore, the backup has {backup.keys} "
                          f"({backup.expires} with a TTL)")  # fmt: skip
    return loaded


def restore_redis(backup_dir: Path, target: Target, *, replace_with_empty: bool = False) -> RedisBackup:
    """Verify the backup, then put it in place of the live data, keeping that until the restore is checked."""
    backup = verify_redis_backup(backup_dir)
    was_running = is_running(target, "redis")
    live = _live_keys(target)
    if live and not backup.keys and not replace_with_empty:
        raise SafetyError(f"backup {backup_dir} holds no key; restoring it would empty the live Redis "
                          f"({live} keys). Nothing was changed. If that is what you want, pass "
                          "--replace-with-empty-backup")  # fmt: skip
    data_dir = target.data_dir("redis")
    kept = data_dir / f"pre-restore-{time.strftime('%Y%m%d-%H%M%S')}"
    kept.mkdir()
    if was_running:
        target.stop("redis")
    for name in DATA_FILES:
        if (data_dir / name).exists():
            (data_dir / name).rename(kept / name)
    try:
        copy_atomically(backup_dir / RDB, data_dir / RDB)
        target.start_component("redis")
        _loaded(target, backup)
    except BaseException as exc:
        if is_running(target, "redis"):
            target.stop("redis")
        for name in DATA_FILES:
            restored = data_dir / name
            if restored.is_dir():
                shutil.rmtree(restored)
            restored.unlink(missing_ok=True)
            if (kept / name).exists():
                (kept / name).rename(restored)
        if was_running:
            target.start_component("redis")
        kept.rmdir()
        if isinstance(exc, Exception):
            raise BackupError(f"restore of {backup_dir} failed ({exc}); the previous data was put back") from exc
        raise
    shutil.rmtree(kept)
    return backup
