"""The backup store keeps backups owner-only, encrypted with a key, pruned by run; its records hold no data."""

from __future__ import annotations

import json
import os
import re
import stat
import time
from typing import TYPE_CHECKING

import pytest
from cryptography.fernet import Fernet

from chaos.errors import BackupVerificationError
from chaos.recovery.store import BackupStore, decrypt_file, unseal

if TYPE_CHECKING:
    from pathlib import Path

SECRET = b"Alice Example, alice@example.org, dentist on Tuesday"


def _backup(store: BackupStore, run: str = "run-1") -> Path:
    path = store.new(run, "scenario", "mongodb")
    path.mkdir()
    (path / "users.bson.gz").write_bytes(SECRET * 1000)
    (path / "manifest.json").write_text(json.dumps({"database": "calendar", "collections": {
        "users": {"file": "users.bson.gz", "count": 1000, "sha256": "ab" * 32, "indexes": []}}}))  # fmt: skip
    return path


def test_a_sealed_backup_is_its_owners_alone_and_its_record_holds_counts_and_hashes(tmp_path: Path) -> None:
    store = BackupStore(tmp_path / "fresh-checkout" / ".drill" / "store")  # no directory above it exists yet
    record = store.seal(_backup(store))
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in store.root.rglob("*") if path.is_file())
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o700 for path in store.root.rglob("*") if path.is_dir())
    assert record["contents"]["."]["collections"]["users"]["count"] == 1000
    assert record["files"]["users.bson.gz"]["size"] == len(SECRET) * 1000
    assert SECRET.decode() not in json.dumps(record)
    assert record["encrypted"] is False


def test_with_a_key_the_files_are_encrypted_and_decrypt_to_what_was_written(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    store = BackupStore(tmp_path / "store", key=key)
    backup = _backup(store)
    record = store.seal(backup)
    assert record["encrypted"] is True
    assert not (backup / "users.bson.gz").exists()
    sealed = backup / "users.bson.gz.enc"
    assert SECRET not in sealed.read_bytes()
    decrypt_file(key, sealed, tmp_path / "clear")
    assert (tmp_path / "clear").read_bytes() == SECRET * 1000


def test_only_the_newest_runs_are_kept(tmp_path: Path) -> None:
    store = BackupStore(tmp_path / "store", keep_runs=2)
    for number in range(4):
        _backup(store, f"run-{number}")
        os.utime(store.root / f"run-{number}", (time.time() - 100 + number, time.time() - 100 + number))
    removed = store.prune()
    assert sorted(path.name for path in removed) == ["run-0", "run-1"]
    assert sorted(path.name for path in store.root.iterdir()) == ["run-2", "run-3"]


def _chunks(sealed: Path) -> list[bytes]:
    data, chunks = sealed.read_bytes(), []
    while data:
        size = int.from_bytes(data[:4], "big")
        chunks.append(data[: 4 + size])
        data = data[4 + size :]
    return chunks


def test_a_sealed_file_with_chunks_reordered_dropped_or_cut_off_does_not_decrypt(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    store = BackupStore(tmp_path / "store", key=key)
    backup = store.new("run-1", "scenario", "mongodb")
    backup.mkdir()
    content = os.urandom(3 * (1 << 20) + 5)  # four chunks, the last one short
    (backup / "users.bson.gz").write_bytes(content)
    (backup / "empty").write_bytes(b"")
    store.seal(backup)
    sealed = backup / "users.bson.gz.enc"
    chunks = _chunks(sealed)
    assert len(chunks) == 4
    decrypt_file(key, sealed, tmp_path / "clear")
    assert (tmp_path / "clear").read_bytes() == content
    decrypt_file(key, backup / "empty.enc", tmp_path / "clear-empty")
    assert (tmp_path / "clear-empty").read_bytes() == b""
    tampered = {
        "swapped": [chunks[1], chunks[0], *chunks[2:]],
        "dropped": [chunks[0], *chunks[2:]],
        "cut off": chunks[:3],
        "appended": [*chunks, chunks[3]],
    }
    for name, parts in tampered.items():
        (tmp_path / name).write_bytes(b"".join(parts))
        with pytest.raises(BackupVerificationError, match=re.escape(str(tmp_path / name))):
            decrypt_file(key, tmp_path / name, tmp_path / f"{name}.out")


def test_unseal_gives_back_the_backup_as_written_and_refuses_another_key(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    store = BackupStore(tmp_path / "store", key=key)
    backup = _backup(store)
    manifest = (backup / "manifest.json").read_bytes()
    store.seal(backup)
    assert unseal(key, backup, tmp_path / "clear") == 2
    assert (tmp_path / "clear" / "users.bson.gz").read_bytes() == SECRET * 1000
    assert (tmp_path / "clear" / "manifest.json").read_bytes() == manifest
    assert stat.S_IMODE((tmp_path / "clear").stat().st_mode) == 0o700
    with pytest.raises(BackupVerificationError, match="does not decrypt with DRILL_BACKUP_KEY"):
        unseal(Fernet.generate_key().decode(), backup, tmp_path / "other")
