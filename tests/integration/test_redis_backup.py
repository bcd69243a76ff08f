"""Redis backup over the replication protocol, verified with redis-check-rdb, restored into the server."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import redis

from chaos.errors import BackupVerificationError
from chaos.recovery.procedures import test_redis_restore as prove_redis_restore
from chaos.recovery.redis import backup_redis, restore_redis, verify_redis_backup

if TYPE_CHECKING:
    from pathlib import Path

    from chaos.targets.local import LocalTarget


def test_round_trip_preserves_every_key_and_ttl(sandbox: LocalTarget, tmp_path: Path) -> None:
    client = redis.Redis.from_url(sandbox.endpoints.redis_url)
    try:
        for i in range(500):
            client.set(f"session:{i}", f"user-{i}", ex=3600 if i % 2 else None)
        client.hset("event:cache", mapping={"a": "1", "b": "2"})
        client.rpush("queue", *range(10))
        backup = backup_redis(sandbox.endpoints.redis_url, tmp_path / "backup")
        assert (backup.keys, backup.expires) == (502, 250)
        client.flushdb()
        client.set("session:stray", "written after the backup")
    finally:
        client.close()
    restore_redis(tmp_path / "backup", sandbox)
    client = redis.Redis.from_url(sandbox.endpoints.redis_url)
    try:
        assert client.dbsize() == 502
        assert client.get("session:7") == b"user-7"
        assert 3500 < client.ttl("session:7") <= 3600
        assert client.ttl("session:8") == -1
        assert client.hgetall("event:cache") == {b"a": b"1", b"b": b"2"}
        assert client.lrange("queue", 0, -1) == [str(i).encode() for i in range(10)]
        assert client.get("session:stray") is None
    finally:
        client.close()


def test_a_flipped_byte_in_the_rdb_is_detected(sandbox: LocalTarget, tmp_path: Path) -> None:
    client = redis.Redis.from_url(sandbox.endpoints.redis_url)
    try:
        for i in range(50):
            client.set(f"k{i}", "v" * 100)
    finally:
        client.close()
    backup_redis(sandbox.endpoints.redis_url, tmp_path / "backup")
    rdb = tmp_path / "backup" / "dump.rdb"
    data = bytearray(rdb.read_bytes())
    data[len(data) // 2] ^= 0x40
    rdb.write_bytes(bytes(data))
    with pytest.raises(BackupVerificationError, match=r"dump\.rdb: SHA-256 .* corrupt or truncated"):
        verify_redis_backup(tmp_path / "backup")
    with pytest.raises(BackupVerificationError):
        restore_redis(tmp_path / "backup", sandbox)
    assert any(row.running for row in sandbox.status() if row.component == "redis")  # refused before stopping


def test_a_test_restore_loads_the_rdb_into_a_scratch_server(sandbox: LocalTarget, tmp_path: Path) -> None:
    client = redis.Redis.from_url(sandbox.endpoints.redis_url)
    try:
        client.mset({f"k{i}": i for i in range(120)})
    finally:
        client.close()
    backup_redis(sandbox.endpoints.redis_url, tmp_path / "backup")
    check = prove_redis_restore(tmp_path / "backup")
    assert check.ok, check.problems
    assert "120 keys loaded" in check.findings[0]
