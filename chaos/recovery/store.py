"""The backup store: where drills keep the backups they take, away from every report.

A backup holds every user's records. It stays here, private to its owner: a
directory per run under the store's root (``.drill/backups`` unless a target
says otherwise), created 0700, every file 0600. When a key is configured
(``DRILL_BACKUP_KEY``, the Fernet key the configuration backup uses) a
scenario's backups are encrypted once the scenario is done with them, file by
file, in chunks, and the clear files removed. Only the newest ``keep_runs`` runs
are kept. What leaves the store is a *record* of each backup for the evidence:
its path, the size and SHA-256 of each file, and the counts and hashes its
manifests give per collection — never a document.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken

from chaos.errors import BackupVerificationError
from chaos.recovery.files import sha256_file

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["BackupStore", "decrypt_file", "unseal"]

CHUNK = 1 << 20
SEALED = ".enc"


class BackupStore:
    def __init__(self, root: Path, *, run_id: str = "", keep_runs: int = 3, key: str | None = None) -> None:
        self.root = root
        self.run_id = run_id  # the pytest session's run: its backups go under this name
        self.keep_runs = keep_runs
        self._fernet = Fernet(key.encode()) if key else None

    @property
    def encrypts(self) -> bool:
        return self._fernet is not None

    def new(self, run_id: str, scenario: str, name: str) -> Path:
        """A fresh path for one backup; every directory above it is created owner-only."""
        path = self.root / run_id / scenario / name
        self.root.parent.mkdir(parents=True, exist_ok=True)  # e.g. .drill/ in a fresh checkout
        for directory in (self.root, self.root / run_id, self.root / run_id / scenario):
            directory.mkdir(mode=0o700, exist_ok=True)
            directory.chmod(0o700)
        return path

    def seal(self, backup: Path) -> dict[str, Any]:
        """Make ``backup`` owner-only (and encrypt it, with a key); return its record for the evidence."""
        files = sorted(path for path in backup.rglob("*") if path.is_file()) if backup.is_dir() else []
        clear = [path for path in files if not path.name.endswith(SEALED)]
        record: dict[str, Any] = {
            "path": str(backup.relative_to(self.root)) if backup.is_relative_to(self.root) else str(backup),
            "files": {str(path.relative_to(backup)): _file(path) for path in clear},
            "contents": _manifests(backup),
            "encrypted": self.encrypts,
        }
        for directory in [backup, *(path for path in backup.rglob("*") if path.is_dir())] if backup.is_dir() else []:
            directory.chmod(0o700)
        for path in files:
            path.chmod(0o600)
            if self._fernet is not None and not path.name.endswith(SEALED):
                _encrypt(self._fernet, path)
        return record

    def prune(self) -> list[Path]:
        """Remove every run's backups but the newest ``keep_runs``; returns what was removed."""
        if not self.root.is_dir():
            return []
        runs = sorted((path for path in self.root.iterdir() if path.is_dir()), key=lambda path: path.stat().st_mtime)
        removed = runs[: max(0, len(runs) - self.keep_runs)]
        for run in removed:
            shutil.rmtree(run, ignore_errors=True)
        return removed


def _file(path: Path) -> dict[str, Any]:
    return {"size": path.stat().st_size, "sha256": sha256_file(path)}


def _manifests(backup: Path) -> dict[str, Any]:
    """Counts and hashes from the backup's own manifests: per MongoDB collection, the Redis key count."""
    contents: dict[str, Any] = {}
    for manifest in sorted(backup.rglob("manifest.json")) if backup.is_dir() else []:
        try:
            data = json.loads(manifest.read_text())
        except (OSError, ValueError):
            continue
        part = str(manifest.parent.relative_to(backup)) or "."
        if isinstance(data.get("collections"), dict):
            contents[part] = {"database": data.get("database"),
                              "collections": {name: {"count": entry.get("count"), "sha256": entry.get("sha256")}
                                              for name, entry in data["collections"].items()}}  # fmt: skip
        elif "keys" in data and "sha256" in data:
            contents[part] = {"redis keys": data["keys"], "sha256": data["sha256"]}
    return contents


def _encrypt(fernet: Fernet, path: Path) -> None:
    """``path`` into ``path.enc``: a Fernet token per chunk, each after its length; the clear file removed.

    Each token holds the chunk's index and whether it is the last before the chunk itself, so a
    sealed file with chunks reordered, dropped or cut off at a chunk boundary does not decrypt.
    """
    sealed = path.with_name(path.name + SEALED)
    with path.open("rb") as clear, sealed.open("wb") as out:
        os.fchmod(out.fileno(), 0o600)
        index, chunk = 0, clear.read(CHUNK)
        while True:
            following = clear.read(CHUNK)
            token = fernet.encrypt(index.to_bytes(8, "big") + bytes([not following]) + chunk)
            out.write(len(token).to_bytes(4, "big") + token)
            if not following:
                break
            index, chunk = index + 1, following
    path.unlink()


def decrypt_file(key: str, sealed: Path, clear: Path) -> None:
    """The reverse of the store's encryption: ``sealed`` (``*.enc``) back into ``clear``.

    Raises ``BackupVerificationError`` naming the file when a chunk is out of place or missing, and
    ``cryptography.fernet.InvalidToken`` when one was altered or the key is not the one it was sealed with.
    """
    fernet = Fernet(key.encode())
    with sealed.open("rb") as source, clear.open("wb") as out:
        os.fchmod(out.fileno(), 0o600)
        expected, last = 0, False
        while header := source.read(4):
            if last:
                raise BackupVerificationError(f"{sealed}: data after the last chunk")
            plain = fernet.decrypt(source.read(int.from_bytes(header, "big")))
            if int.from_bytes(plain[:8], "big") != expected:
                raise BackupVerificationError(f"{sealed}: chunk {expected} is missing or out of order")
            last = bool(plain[8])
            out.write(plain[9:])
            expected += 1
        if not last:
            raise BackupVerificationError(f"{sealed}: cut off after chunk {expected - 1}; the last chunk is missing")


def unseal(key: str, backup: Path, output: Path) -> int:
    """Copy a sealed backup into ``output`` (new, owner-only) with every ``*.enc`` file decrypted; returns
    how many files were decrypted. A file that does not decrypt stops the copy with an error naming it."""
    output.mkdir(mode=0o700, exist_ok=True)  # absent or empty: the CLI checks
    output.chmod(0o700)
    decrypted = 0
    for source in sorted(backup.rglob("*")):
        destination = output / source.relative_to(backup)
        if source.is_dir():
            destination.mkdir(mode=0o700, exist_ok=True)
        elif source.name.endswith(SEALED):
            try:
                decrypt_file(key, source, destination.with_name(source.name[: -len(SEALED)]))
            except InvalidToken:
                raise BackupVerificationError(f"{source}: does not decrypt with DRILL_BACKUP_KEY (another key, or "
                                              "the file was altered)") from None  # fmt: skip
            decrypted += 1
        else:
            shutil.copyfile(source, destination)
            destination.chmod(0o600)
    return decrypted
