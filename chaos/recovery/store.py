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

The store never takes a directory it did not make: its root must be new, empty,
or hold the marker (``.chaos-drill-store``, with the store's id) it wrote there;
never ``/``, a system or home directory, the checkout (or a directory above it)
or the reports. Each run's directory holds a marker with the store's id, and
pruning removes only directories with that marker.

Without ``DRILL_BACKUP_KEY`` the key that seals a run's configuration secrets is
made for the run and kept in the run's directory (``config.key``, 0600), so a
kept backup can be restored later, in another process; the evidence says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pwd
import shutil
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken

from chaos.errors import BackupVerificationError, ConfigError
from chaos.recovery.files import sha256_file

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["KEY_FILE", "STORE_MARKER", "BackupStore", "decrypt_file", "find_stored_key", "key_id", "unseal"]

CHUNK = 1 << 20
SEALED = ".enc"
STORE_MARKER = ".chaos-drill-store"
RUN_MARKER = ".chaos-drill-run"
KEY_FILE = "config.key"
# Never a store's root: these exactly, and anything under the trees after them.
SYSTEM_DIRS = tuple(map(Path, ("/", "/home", "/mnt", "/media", "/opt", "/srv", "/tmp", "/var", "/var/tmp",
                               "/var/lib", "/var/cache", "/var/log", "/run", "/snap")))  # fmt: skip
SYSTEM_TREES = tuple(map(Path, ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc",
                                "/sbin", "/sys", "/usr")))  # fmt: skip


def key_id(key: str) -> str:
    """A short name for a key that tells keys apart and gives nothing of it away."""
    return hashlib.sha256(b"chaos-drill key id\0" + key.encode()).hexdigest()[:16]


def _homes() -> set[Path]:
    homes = {Path.home()}
    with contextlib.suppress(OSError):
        homes |= {Path(entry.pw_dir) for entry in pwd.getpwall() if entry.pw_dir.startswith("/")}
    return {home.resolve() for home in homes}


def root_problem(root: Path, *, protected: Iterable[tuple[Path, str]] = (), shared: Iterable[Path] = ()) -> str | None:
    """Why ``root`` cannot be a backup store's root, or None. ``protected``: directories (the checkout) it may
    be neither nor above, each with what it is; ``shared``: the reports, which it may be neither, nor above,
    nor inside."""
    resolved = root.resolve()
    if resolved in SYSTEM_DIRS or any(resolved == tree or tree in resolved.parents for tree in SYSTEM_TREES):
        return f"{root}: a system directory; pick a directory of its own, such as .drill/backups"
    if any(resolved == home or resolved in home.parents for home in _homes()):
        return f"{root}: a home directory (or one above it); pick a directory of its own inside it"
    shared = [directory.resolve() for directory in shared]
    for directory, what in [*protected, *((directory, "the reports") for directory in shared)]:
        directory = directory.resolve()
        if resolved == directory or resolved in directory.parents:
            return f"{root}: {what} {directory} (or a directory above it); pick a directory of its own"
    for directory in shared:
        if directory in resolved.parents:
            return f"{root}: inside the reports {directory}, which are shared as evidence; backups never go there"
    if resolved.exists() and not resolved.is_dir():
        return f"{root}: exists and is not a directory"
    if resolved.is_dir() and not (resolved / STORE_MARKER).is_file():
        try:
            empty = not any(resolved.iterdir())
        except OSError as exc:
            return f"{root}: unreadable ({exc.strerror})"
        if not empty:
            return (f"{root}: not empty and not a backup store (no {STORE_MARKER}); the store takes a new or "
                    "empty directory, never one holding anything else")  # fmt: skip
    return None


def find_stored_key(backup: Path) -> Path | None:
    """The ``config.key`` of the run a backup in the store belongs to: the nearest above it, up to the store's root."""
    for directory in [backup.resolve(), *backup.resolve().parents]:
        if (directory / KEY_FILE).is_file():
            return directory / KEY_FILE
        if (directory / STORE_MARKER).is_file():
            return None
    return None


class BackupStore:
    def __init__(self, root: Path, *, run_id: str = "", keep_runs: int = 3, key: str | None = None) -> None:
        self.root = root
        self.run_id = run_id  # the pytest session's run: its backups go under this name
        self.keep_runs = keep_runs
        self._key = key
        self._fernet = Fernet(key.encode()) if key else None
        self._store_id = ""

    @property
    def encrypts(self) -> bool:
        return self._fernet is not None

    def open(self) -> str:
        """Take the root (new, empty, or already this kind of store: else ``ConfigError``); returns the store's id."""
        if self._store_id:
            return self._store_id
        problem = root_problem(self.root)
        if problem:
            raise ConfigError(f"backup store: {problem}")
        self.root.parent.mkdir(parents=True, exist_ok=True)  # e.g. .drill/ in a fresh checkout
        self.root.mkdir(mode=0o700, exist_ok=True)
        self.root.chmod(0o700)
        marker = self.root / STORE_MARKER
        try:
            descriptor = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(descriptor, "w") as out:
                json.dump({"kind": "chaos-drill backup store", "id": uuid.uuid4().hex, "created_at": time.time()}, out)
        try:
            self._store_id = str(json.loads(marker.read_text())["id"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"backup store: {marker} is not a store marker ({exc!r}); refusing the store") from None
        return self._store_id

    def _run_dir(self, run_id: str) -> Path:
        store_id = self.open()
        directory = self.root / run_id
        directory.mkdir(mode=0o700, exist_ok=True)
        directory.chmod(0o700)
        marker = directory / RUN_MARKER
        if not marker.exists():
            marker.write_text(json.dumps({"store": store_id, "run": run_id}))
            marker.chmod(0o600)
        return directory

    def new(self, run_id: str, scenario: str, name: str) -> Path:
        """A fresh path for one backup; every directory above it is created owner-only."""
        directory = self._run_dir(run_id) / scenario
        directory.mkdir(mode=0o700, exist_ok=True)
        directory.chmod(0o700)
        return directory / name

    def config_key(self) -> str:
        """The key that seals this run's configuration secrets: DRILL_BACKUP_KEY, or one made for the run
        and kept in its directory (``config.key``, 0600) so that the backup can be restored later."""
        if self._key:
            return self._key
        if not self.run_id:
            raise ValueError("a store without a run id keeps no key: give it the run's id")
        path = self._run_dir(self.run_id) / KEY_FILE
        if not path.exists():
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as out:
                out.write(Fernet.generate_key().decode() + "\n")
        return path.read_text().strip()

    def key_note(self) -> str:
        """Where the key of this run's configuration secrets is, for the evidence."""
        if self._key:
            return f"DRILL_BACKUP_KEY (key id {key_id(self._key)}); not stored"
        path = self.root / self.run_id / KEY_FILE
        if not path.exists():
            return "none made: no configuration backup in this run"
        return (f"made for the run and stored beside its backups, {path.relative_to(self.root)} (0600, key id "
                f"{key_id(self.config_key())}): the sealed secrets are as private as the store; set "
                "DRILL_BACKUP_KEY to keep the key elsewhere")  # fmt: skip

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
        """Remove every run's backups but the newest ``keep_runs``; returns what was removed. Only a
        directory holding this store's run marker is a run; anything else in the root is left alone."""
        if not (self.root / STORE_MARKER).is_file():
            return []
        store_id = self.open()
        runs = sorted((path for path in self.root.iterdir() if _run_of(path, store_id)),
                      key=lambda path: path.stat().st_mtime)  # fmt: skip
        removed = runs[: max(0, len(runs) - self.keep_runs)]
        for run in removed:
            shutil.rmtree(run, ignore_errors=True)
        return removed


def _run_of(path: Path, store_id: str) -> bool:
    """Whether ``path`` is a run directory this store made."""
    if path.is_symlink() or not path.is_dir():
        return False
    try:
        return bool(json.loads((path / RUN_MARKER).read_text()).get("store") == store_id)
    except (OSError, ValueError, AttributeError):
        return False


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
