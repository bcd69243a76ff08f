"""MongoDB backup, verify and restore against the real MongoDB-wire server."""

from __future__ import annotations

import gzip
import hashlib
import io
from typing import TYPE_CHECKING, Any

import pymongo
import pytest
from bson import json_util

from chaos.errors import BackupError, BackupVerificationError
from chaos.recovery.integrity import verify_data_integrity
from chaos.recovery.mongo import BATCH, backup_mongodb, iter_documents, verify_backup
from chaos.recovery.mongo_restore import restore_mongodb

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from chaos.targets.local import LocalTarget

USERS = 50
EVENTS = 3000


def _db(sandbox: LocalTarget) -> Any:
    """A database handle whose client closes when the test ends."""
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(sandbox.endpoints.mongodb_uri)
    _clients.append(client)
    return client[sandbox.endpoints.database]


_clients: list[pymongo.MongoClient[dict[str, Any]]] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _clients:
        _clients.pop().close()


def _fill(sandbox: LocalTarget) -> None:
    db = _db(sandbox)
    db.users.insert_many([{"_id": f"u{i}", "name": f"user {i}", "email": f"u{i}@example.org"} for i in range(USERS)])
    db.events.insert_many([
        {"_id": f"e{i:05d}", "user_id": f"u{i % USERS}", "title": f"event {i}", "start": "s", "end": "e",
         "attendees": [f"u{(i + 1) % USERS}"], "weight": i / 7}
        for i in range(EVENTS)
    ])  # fmt: skip
    db.events.create_index([("user_id", 1)], name="by_user")


def _document_hashes(sandbox: LocalTarget) -> dict[str, str]:
    db = _db(sandbox)
    return {
        f"{name}/{doc['_id']}": hashlib.sha256(json_util.dumps(doc, sort_keys=True).encode()).hexdigest()
        for name in ("users", "events")
        for doc in db[name].find()
    }


def test_round_trip_into_a_fresh_server_preserves_every_document(sandbox: LocalTarget, tmp_path: Path) -> None:
    _fill(sandbox)
    before = _document_hashes(sandbox)
    manifest = backup_mongodb(sandbox.endpoints.mongodb_uri, "calendar", tmp_path / "backup")
    assert manifest.count("events") == EVENTS
    assert manifest.count("users") == USERS
    sandbox.kill("mongodb")
    sandbox.start_component("mongodb", fresh_data=True)
    assert _db(sandbox).events.count_documents({}) == 0
    restore_mongodb(tmp_path / "backup", sandbox.endpoints.mongodb_uri)
    assert _document_hashes(sandbox) == before
    assert "by_user" in _db(sandbox).events.index_information()
    report = verify_data_integrity(sandbox.endpoints.mongodb_uri, "calendar", manifest)
    assert report.ok, report.problems


def test_flipped_byte_is_detected_and_restore_refuses(sandbox: LocalTarget, tmp_path: Path) -> None:
    _fill(sandbox)
    backup_mongodb(sandbox.endpoints.mongodb_uri, "calendar", tmp_path / "backup")
    path = tmp_path / "backup" / "events.bson.gz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(BackupVerificationError, match=r"events.bson.gz: SHA-256 .* corrupt or truncated"):
        verify_backup(tmp_path / "backup")
    before = _db(sandbox).events.count_documents({})
    with pytest.raises(BackupVerificationError):
        restore_mongodb(tmp_path / "backup", sandbox.endpoints.mongodb_uri)
    assert _db(sandbox).events.count_documents({}) == before  # nothing was dropped


def test_truncated_file_is_detected(sandbox: LocalTarget, tmp_path: Path) -> None:
    _fill(sandbox)
    backup_mongodb(sandbox.endpoints.mongodb_uri, "calendar", tmp_path / "backup")
    path = tmp_path / "backup" / "users.bson.gz"
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(BackupVerificationError, match=r"users\.bson\.gz"):
        verify_backup(tmp_path / "backup")


def test_count_mismatch_with_a_consistent_hash_is_detected(sandbox: LocalTarget, tmp_path: Path) -> None:
    _fill(sandbox)
    backup = tmp_path / "backup"
    backup_mongodb(sandbox.endpoints.mongodb_uri, "calendar", backup)
    path = backup / "users.bson.gz"
    documents = list(iter_documents(io.BytesIO(gzip.decompress(path.read_bytes())), path))[:-1]
    path.write_bytes(gzip.compress(b"".join(documents)))
    manifest = (backup / "manifest.json").read_text()
    old_hash = manifest.split('"users"')[1].split('"sha256": "')[1].split('"')[0]
    (backup / "manifest.json").write_text(manifest.replace(old_hash, hashlib.sha256(path.read_bytes()).hexdigest()))
    with pytest.raises(BackupVerificationError, match=f"{USERS - 1} documents, manifest says {USERS}"):
        verify_backup(backup)


def test_backup_refuses_a_non_empty_output(sandbox: LocalTarget, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old").write_text("x")
    with pytest.raises(BackupError, match="not empty"):
        backup_mongodb(sandbox.endpoints.mongodb_uri, "calendar", tmp_path / "out")


def test_missing_manifest_is_named(tmp_path: Path) -> None:
    with pytest.raises(BackupVerificationError, match=r"manifest\.json: missing"):
        verify_backup(tmp_path)


def test_a_round_trip_of_many_batches_preserves_every_document(sandbox: LocalTarget, tmp_path: Path) -> None:
    """Ten full batches of the backup's and the restore's (BATCH documents) and a partial one: every document
    back as it was. The rate and the memory at 100k and 1M documents are the benchmark's (bench/backup_restore.py)."""
    total = 10 * BATCH + 7
    db = _db(sandbox)
    db.events.insert_many([
        {"_id": f"e{i:06d}", "user_id": f"u{i % 97}", "title": f"event {i}", "start": "s", "end": "e",
         "n": i, "tags": ["a", str(i % 13)]}
        for i in range(total)
    ])  # fmt: skip
    before = _document_hashes(sandbox)
    backup_mongodb(sandbox.endpoints.mongodb_uri, "calendar", tmp_path / "backup")
    sandbox.kill("mongodb")
    sandbox.start_component("mongodb", fresh_data=True)
    restore_mongodb(tmp_path / "backup", sandbox.endpoints.mongodb_uri)
    after = _document_hashes(sandbox)
    assert len(after) == total
    assert after == before


def test_integrity_finds_missing_and_mistyped_fields_and_orphans(sandbox: LocalTarget) -> None:
    _fill(sandbox)
    db = _db(sandbox)
    db.users.update_one({"_id": "u1"}, {"$set": {"email": 42}})
    db.users.update_one({"_id": "u2"}, {"$unset": {"name": ""}})
    db.events.insert_one({"_id": "orphan", "user_id": "ghost", "title": "t", "start": "s", "end": "e"})
    report = verify_data_integrity(sandbox.endpoints.mongodb_uri, "calendar")
    assert not report.ok
    assert "calendar.users: 1 documents have a non-string 'email'" in report.problems
    assert "calendar.users: 1 documents lack 'name'" in report.problems
    assert any("reference 1 missing users" in problem for problem in report.problems)


def test_restore_in_place_brings_the_database_to_the_backups_state(sandbox: LocalTarget, tmp_path: Path) -> None:
    db = _db(sandbox)
    db.users.insert_one({"_id": "u", "name": "n", "email": "e"})
    backup_mongodb(sandbox.endpoints.mongodb_uri, "calendar", tmp_path / "backup")
    db.events.insert_one({"_id": "garbage", "user_id": 7, "title": 8, "start": 9, "end": 10})  # created after
    restore_mongodb(tmp_path / "backup", sandbox.endpoints.mongodb_uri)
    assert sorted(db.list_collection_names()) == ["users"]
    assert verify_data_integrity(sandbox.endpoints.mongodb_uri, "calendar").ok


def test_a_collection_name_is_never_a_path_on_disk(sandbox: LocalTarget, tmp_path: Path) -> None:
    # Names the database takes that would be a subdirectory or an absolute path as file names.
    names = ["a/b", "/abs", "100%"]
    db = _db(sandbox)
    for index, name in enumerate(names):
        db[name].insert_one({"_id": index, "name": name})
    output = tmp_path / "store" / "backup"
    manifest = backup_mongodb(sandbox.endpoints.mongodb_uri, "calendar", output)
    files = {entry["file"] for name, entry in manifest.collections.items() if name in names}
    assert files == {"a%2Fb.bson.gz", "%2Fabs.bson.gz", "100%25.bson.gz"}
    assert sorted(path.name for path in tmp_path.rglob("*") if path.is_file() and path.parent != output) == []
    assert verify_backup(output).collections.keys() >= set(names)
    sandbox.kill("mongodb")
    sandbox.start_component("mongodb", fresh_data=True)
    restore_mongodb(output, sandbox.endpoints.mongodb_uri)
    assert {name: _db(sandbox)[name].find_one({}, {"_id": 0}) for name in names} == {name: {"name": name}
                                                                                     for name in names}  # fmt: skip
