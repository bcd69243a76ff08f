"""Restores that cannot lose what is live: staged, switched, checked, and put back on any failure (issue 11)."""

from __future__ import annotations

import gzip
import hashlib
import json
from typing import TYPE_CHECKING, Any

import pymongo
import pytest
import redis
from bson import json_util

import chaos.recovery.mongo_restore as mongo_restore
import chaos.recovery.redis as redis_recovery
from chaos.errors import BackupError, SafetyError
from chaos.recovery.mongo import backup_mongodb, verify_backup
from chaos.recovery.mongo_restore import KEPT_PREFIX, STAGING_PREFIX, restore_mongodb
from chaos.recovery.redis import backup_redis, restore_redis

if TYPE_CHECKING:
    from pathlib import Path

    from chaos.targets.local import LocalTarget


def _client(sandbox: LocalTarget) -> pymongo.MongoClient[dict[str, Any]]:
    return pymongo.MongoClient(sandbox.endpoints.mongodb_uri, serverSelectionTimeoutMS=5000)


def _state(sandbox: LocalTarget) -> dict[str, list[dict[str, Any]]]:
    client = _client(sandbox)
    try:
        db = client[sandbox.endpoints.database]
        return {name: json_util.loads(json_util.dumps(list(db[name].find().sort("_id", 1))))
                for name in sorted(db.list_collection_names())}  # fmt: skip
    finally:
        client.close()


def _fill(sandbox: LocalTarget, users: int, prefix: str = "u") -> None:
    client = _client(sandbox)
    try:
        client[sandbox.endpoints.database].users.insert_many(
            [{"_id": f"{prefix}{i}", "name": f"user {i}"} for i in range(users)]
        )
    finally:
        client.close()


def test_a_restore_in_place_leaves_the_backup_and_nothing_of_its_own(sandbox: LocalTarget, tmp_path: Path) -> None:
    _fill(sandbox, 30)
    backup_mongodb(sandbox.endpoints.mongodb_uri, sandbox.endpoints.database, tmp_path / "backup")
    expected = _state(sandbox)
    _fill(sandbox, 5, prefix="later")
    restored = restore_mongodb(tmp_path / "backup", sandbox.endpoints.mongodb_uri, sandbox.endpoints.database)
    assert _state(sandbox) == expected
    assert not [name for name in _state(sandbox) if name.startswith((STAGING_PREFIX, KEPT_PREFIX))]
    assert restored.leftovers == []


def test_a_backup_the_server_rejects_while_staging_leaves_the_live_data(sandbox: LocalTarget, tmp_path: Path) -> None:
    """Every document decodes, hashes and counts match, but two share an _id: the server refuses the second."""
    _fill(sandbox, 30)
    backup = tmp_path / "backup"
    backup_mongodb(sandbox.endpoints.mongodb_uri, sandbox.endpoints.database, backup)
    manifest = json.loads((backup / "manifest.json").read_text())
    entry = manifest["collections"]["users"]
    documents = gzip.decompress((backup / entry["file"]).read_bytes())
    first = documents[: int.from_bytes(documents[:4], "little")]
    data = gzip.compress(documents + first, mtime=0)
    (backup / entry["file"]).write_bytes(data)
    entry["sha256"], entry["count"] = hashlib.sha256(data).hexdigest(), entry["count"] + 1
    (backup / "manifest.json").write_text(json.dumps(manifest))
    verify_backup(backup)  # nothing in the files themselves is wrong
    _fill(sandbox, 3, prefix="live-only")
    before = _state(sandbox)
    with pytest.raises(BackupError, match="the live collections were kept"):
        restore_mongodb(backup, sandbox.endpoints.mongodb_uri, sandbox.endpoints.database)
    assert _state(sandbox) == before


def test_a_switch_that_fails_halfway_is_put_back(
    sandbox: LocalTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(sandbox, 30)
    client = _client(sandbox)
    client[sandbox.endpoints.database].settings.insert_one({"_id": "s1", "value": "v"})
    client.close()
    backup_mongodb(sandbox.endpoints.mongodb_uri, sandbox.endpoints.database, tmp_path / "backup")
    _fill(sandbox, 4, prefix="after-backup")
    before = _state(sandbox)
    renames: list[str] = []
    rename = mongo_restore._rename

    def failing_third(client: Any, database: str, source: str, destination: str) -> None:
        renames.append(source)
        if len(renames) == 3:  # some collections are switched already, the rest not yet
            raise pymongo.errors.OperationFailure("the server gave up mid-switch")
        rename(client, database, source, destination)

    monkeypatch.setattr(mongo_restore, "_rename", failing_third)
    with pytest.raises(BackupError, match="the server gave up mid-switch"):
        restore_mongodb(tmp_path / "backup", sandbox.endpoints.mongodb_uri, sandbox.endpoints.database)
    assert _state(sandbox) == before


def test_an_empty_backup_never_replaces_live_data_unless_asked(sandbox: LocalTarget, tmp_path: Path) -> None:
    client = _client(sandbox)
    client["empty_one"].create_collection("nothing")
    client.close()
    backup_mongodb(sandbox.endpoints.mongodb_uri, "empty_one", tmp_path / "empty")
    _fill(sandbox, 10)
    before = _state(sandbox)
    with pytest.raises(SafetyError, match="holds no document"):
        restore_mongodb(tmp_path / "empty", sandbox.endpoints.mongodb_uri, sandbox.endpoints.database)
    assert _state(sandbox) == before
    restore_mongodb(tmp_path / "empty", sandbox.endpoints.mongodb_uri, sandbox.endpoints.database,
                    replace_with_empty=True, replace_from_other=True)  # fmt: skip
    assert _state(sandbox) == {"nothing": []}


def test_a_redis_restore_that_fails_its_check_puts_the_live_keys_back(
    sandbox: LocalTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = redis.Redis.from_url(sandbox.endpoints.redis_url)
    try:
        client.mset({f"session:{i}": f"user-{i}" for i in range(40)})
        backup_redis(sandbox.endpoints.redis_url, tmp_path / "backup")
        client.mset({f"session:live-{i}": "written after the backup" for i in range(7)})
    finally:
        client.close()

    def never_loaded(target: Any, backup: Any) -> int:
        raise BackupError("the restored server holds the wrong keys")

    monkeypatch.setattr(redis_recovery, "_loaded", never_loaded)
    with pytest.raises(BackupError, match="the previous data was put back"):
        restore_redis(tmp_path / "backup", sandbox)
    client = redis.Redis.from_url(sandbox.endpoints.redis_url)
    try:
        assert client.dbsize() == 47
        assert client.get("session:live-3") == b"written after the backup"
    finally:
        client.close()
    assert not list(sandbox.data_dir("redis").glob("pre-restore-*"))
