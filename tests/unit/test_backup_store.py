"""The backup store keeps backups owner-only, encrypted with a key, pruned by run; its records hold no data."""

from __future__ import annotations

import json
import os
import re
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography.fernet import Fernet

from chaos.errors import BackupVerificationError, ConfigError
from chaos.recovery.store import KEY_FILE, STORE_MARKER, BackupStore, decrypt_file, key_id, root_problem, unseal

if TYPE_CHECKING:
    from collections.abc import Callable

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
    assert sorted(path.name for path in store.root.iterdir() if path.is_dir()) == ["run-2", "run-3"]


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


def _non_empty(tmp_path: Path) -> Path:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "holiday.jpg").write_bytes(b"not a backup")
    return tmp_path / "photos"


def _a_file(tmp_path: Path) -> Path:
    (tmp_path / "notes.txt").write_text("mine")
    return tmp_path / "notes.txt"


REFUSED: dict[str, tuple[Callable[[Path], Path], str]] = {
    "the root": (lambda tmp: Path("/"), "system directory"),
    "''": (lambda tmp: Path(""), "the checkout"),  # Path('') is the working directory
    "/etc": (lambda tmp: Path("/etc"), "system directory"),
    "/usr/local/share": (lambda tmp: Path("/usr/local/share"), "system directory"),
    "/tmp": (lambda tmp: Path("/tmp"), "system directory"),
    "a home": (lambda tmp: Path.home(), "home directory"),
    "the checkout": (lambda tmp: tmp / "checkout", "the checkout"),
    "above the checkout": (lambda tmp: tmp, "the checkout"),
    "the reports": (lambda tmp: tmp / "checkout" / "reports", "the reports"),
    "inside the reports": (lambda tmp: tmp / "checkout" / "reports" / "backups", "inside the reports"),
    "a file": (_a_file, "not a directory"),
    "a directory holding something else": (_non_empty, "not a backup store"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_a_root_the_store_did_not_make_is_refused_and_left_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    checkout = tmp_path / "checkout"
    (checkout / "reports").mkdir(parents=True)
    monkeypatch.chdir(checkout)
    make, why = REFUSED[case]
    root = make(tmp_path)
    before = {str(path): path.stat().st_mode for path in [root, *root.iterdir()]} if root.is_dir() else None
    problem = root_problem(root, protected=[(checkout, "the checkout")], shared=[checkout / "reports"])
    assert problem is not None
    assert why in problem, problem
    if case in ("the checkout", "above the checkout", "the reports", "inside the reports", "''"):
        return  # these the input check refuses (it knows the checkout and the reports); the rest the store too
    store = BackupStore(root, run_id="run-1")
    with pytest.raises(ConfigError, match=why):
        store.new("run-1", "scenario", "mongodb")
    assert store.prune() == []
    if before is not None:
        assert {str(path): path.stat().st_mode for path in [root, *root.iterdir()]} == before
    assert not (root / STORE_MARKER).exists()


def test_a_new_or_empty_directory_becomes_a_store_and_stays_one(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for root in (tmp_path / "empty", tmp_path / "new" / "store"):
        assert root_problem(root) is None
        first = BackupStore(root, run_id="run-1")
        first.new("run-1", "scenario", "mongodb").mkdir()
        assert stat.S_IMODE((root / STORE_MARKER).stat().st_mode) == 0o600
        assert root_problem(root) is None  # not empty now, but marked: the next run takes it
        assert BackupStore(root, run_id="run-2").open() == first.open()


def test_pruning_removes_only_run_directories_the_store_made(tmp_path: Path) -> None:
    store = BackupStore(tmp_path / "store", keep_runs=1)
    for number in range(3):
        _backup(store, f"run-{number}")
        os.utime(store.root / f"run-{number}", (time.time() - 100 + number, time.time() - 100 + number))
    (store.root / "photos").mkdir()  # put there by hand later: no run marker
    os.utime(store.root / "photos", (time.time() - 500, time.time() - 500))
    other = BackupStore(tmp_path / "other-store")
    _backup(other, "run-x")  # its marker names another store: moved here, it is not this store's run
    (other.root / "run-x").rename(store.root / "run-x")
    os.utime(store.root / "run-x", (time.time() - 500, time.time() - 500))
    outside = tmp_path / "outside"
    _backup(BackupStore(outside), "run-y")
    (store.root / "run-link").symlink_to(outside / "run-y")
    removed = store.prune()
    assert sorted(path.name for path in removed) == ["run-0", "run-1"]
    left = sorted(path.name for path in store.root.iterdir() if path.name != STORE_MARKER)
    assert left == ["photos", "run-2", "run-link", "run-x"]
    assert (outside / "run-y" / "scenario" / "mongodb" / "users.bson.gz").exists()


def test_without_a_key_the_runs_config_key_is_kept_owner_only_in_its_directory(tmp_path: Path) -> None:
    store = BackupStore(tmp_path / "store", run_id="run-1")
    assert store.key_note().startswith("none made")
    key = store.config_key()
    path = store.root / "run-1" / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Fernet(key.encode())  # a key that works
    assert store.config_key() == key == BackupStore(store.root, run_id="run-1").config_key()  # the same, later too
    assert "stored beside its backups" in store.key_note()
    assert key_id(key) in store.key_note()
    assert key not in store.key_note()
    given = Fernet.generate_key().decode()
    keyed = BackupStore(tmp_path / "keyed", run_id="run-1", key=given)
    assert keyed.config_key() == given
    assert not (keyed.root / "run-1" / KEY_FILE).exists()
    assert "not stored" in keyed.key_note()
