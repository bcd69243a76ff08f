"""Restoring a MongoDB backup without ever losing what is live.

Nothing live is touched until the backup has proved it restores:

1. the backup is verified whole (every file's hash and count, every document decoded);
2. a backup that would wipe a non-empty database — one that holds no document, or one taken of
   another database — is refused unless the caller says so explicitly;
3. every collection is loaded into a staging collection beside the live one, and counted;
4. only then are the live collections renamed aside (kept) and the staged ones renamed in;
5. the switch is checked; if any step fails, the staged data is dropped and the kept collections
   are renamed back, so the database is as it was. Only after a checked switch are they dropped.

Staging and kept collections carry the prefixes ``drill_staging_`` and ``drill_prerestore_`` and a
token per restore. A restore killed between 4 and 5 leaves the kept collections under those
names: they are never dropped by a later restore, which names them instead.
"""

from __future__ import annotations

import gzip
import uuid
from typing import TYPE_CHECKING, Any, cast

import pymongo
from bson.raw_bson import RawBSONDocument

from chaos.errors import BackupError, SafetyError
from chaos.recovery.mongo import (
    BATCH,
    RAW,
    iter_documents,
    mongo_client,
    progress_bar,
    recreate_indexes,
    redact_uri,
    verify_backup,
)

if TYPE_CHECKING:
    from pathlib import Path

    from pymongo.collection import Collection
    from pymongo.database import Database

    from chaos.recovery.mongo import BackupManifest

__all__ = ["KEPT_PREFIX", "STAGING_PREFIX", "RestoreReport", "restore_mongodb"]

STAGING_PREFIX = "drill_staging_"
KEPT_PREFIX = "drill_prerestore_"


class RestoreReport:
    """What a restore did: the manifest restored, and collections an interrupted earlier restore left."""

    def __init__(self, manifest: BackupManifest, database: str, leftovers: list[str]) -> None:
        self.manifest, self.database, self.leftovers = manifest, database, leftovers

    @property
    def collections(self) -> dict[str, dict[str, Any]]:
        return self.manifest.collections


def _ours(name: str) -> bool:
    return name.startswith((STAGING_PREFIX, KEPT_PREFIX))


def _insert(collection: Collection[RawBSONDocument], batch: list[RawBSONDocument]) -> int:
    return len(batch) if collection.insert_many(batch, ordered=False).acknowledged else 0


def _stage(db: Database[Any], name: str, staging: str, entry: dict[str, Any], source: Path) -> None:
    """Load one backup file into ``staging``; its documents, counted by the server's acknowledgements."""
    collection = cast("Collection[RawBSONDocument]", db.get_collection(staging, codec_options=RAW))
    db.create_collection(staging)
    batch: list[RawBSONDocument] = []
    # Counted from the server's acknowledgements — an acknowledged insert_many that raised
    # no BulkWriteError inserted its whole batch — exact, without re-reading the collection
    # (a full scan on some servers, FerretDB among them).
    restored = 0
    with gzip.open(source, "rb") as stream, progress_bar(entry["count"], f"restore {name}") as bar:
        for document in iter_documents(stream, source):
            batch.append(RawBSONDocument(document))
            if len(batch) >= BATCH:
                restored += _insert(collection, batch)
                bar.update(len(batch))
                batch.clear()
        if batch:
            restored += _insert(collection, batch)
            bar.update(len(batch))
    recreate_indexes(db[staging], entry["indexes"])
    if restored != entry["count"]:
        raise BackupError(f"staging {name}: {restored} documents loaded, the backup has {entry['count']}")


def _refuse_wiping(
    db: Database[Any], manifest: BackupManifest, *, replace_with_empty: bool, replace_from_other: bool
) -> None:
    """Refuse a backup that would replace a non-empty database with nothing, or with another database."""
    live = [name for name in db.list_collection_names() if not _ours(name)]
    holding = [name for name in live if db[name].find_one({}, {"_id": 1}) is not None]
    if not holding:
        return
    if not any(entry["count"] for entry in manifest.collections.values()) and not replace_with_empty:
        raise SafetyError(f"backup {manifest.path} holds no document; restoring it would empty the live database "
                          f"{db.name!r} ({', '.join(sorted(holding))}). Nothing was changed. If that is what you "
                          "want, pass --replace-with-empty-backup")  # fmt: skip
    if manifest.database != db.name and not replace_from_other:
        raise SafetyError(f"backup {manifest.path} was taken of database {manifest.database!r}, not of "
                          f"{db.name!r}, which holds data ({', '.join(sorted(holding))}). Nothing was changed. If "
                          "that is what you want, pass --restore-from-other-database")  # fmt: skip


def restore_mongodb(
    backup_dir: Path,
    uri: str,
    database: str | None = None,
    *,
    replace_with_empty: bool = False,
    replace_from_other: bool = False,
) -> RestoreReport:
    """Bring ``database`` (default: the backup's) to the backup's state; see the module's steps."""
    manifest = verify_backup(backup_dir)
    target = database or manifest.database
    token = uuid.uuid4().hex[:8]
    staged = {name: f"{STAGING_PREFIX}{token}_{name}" for name in manifest.collections}
    client = mongo_client(uri)
    try:
        db = client[target]
        _refuse_wiping(db, manifest, replace_with_empty=replace_with_empty, replace_from_other=replace_from_other)
        leftovers = sorted(name for name in db.list_collection_names() if _ours(name))
        try:
            for name, entry in manifest.collections.items():
                _stage(db, name, staged[name], entry, backup_dir / entry["file"])
        except BaseException:
            for staging in staged.values():
                db.drop_collection(staging)
            raise
        _switch(client, db, staged, manifest, token)
    except pymongo.errors.PyMongoError as exc:
        raise BackupError(f"restore of {backup_dir} into {target} at {redact_uri(uri)} failed: {exc}; the live "
                          "collections were kept as they were") from exc  # fmt: skip
    finally:
        client.close()
    return RestoreReport(manifest, target, leftovers)


def _rename(client: pymongo.MongoClient[Any], database: str, source: str, destination: str) -> None:
    client.admin.command("renameCollection", f"{database}.{source}", to=f"{database}.{destination}")


def _switch(
    client: pymongo.MongoClient[Any], db: Database[Any], staged: dict[str, str], manifest: BackupManifest, token: str
) -> None:
    """Live collections aside, staged ones in, checked; put back as it was if anything fails."""
    live = [name for name in db.list_collection_names() if not _ours(name)]
    kept: dict[str, str] = {}  # live name -> the name it is kept under
    placed: list[str] = []
    try:
        for name in live:
            kept[name] = f"{KEPT_PREFIX}{token}_{name}"
            _rename(client, db.name, name, kept[name])
        for name, staging in staged.items():
            _rename(client, db.name, staging, name)
            placed.append(name)
        present = {name for name in db.list_collection_names() if not _ours(name)}
        if present != set(manifest.collections):
            raise BackupError(f"after the switch the database holds {sorted(present)}, the backup "
                              f"{sorted(manifest.collections)}")  # fmt: skip
        for name in placed:
            counted = db[name].estimated_document_count()
            if counted != manifest.count(name):
                raise BackupError(f"after the switch {name} holds {counted} documents, the backup "
                                  f"{manifest.count(name)}")  # fmt: skip
    except BaseException:
        for name in placed:
            db.drop_collection(name)
        for staging in staged.values():
            db.drop_collection(staging)
        for name, aside in kept.items():
            if aside in db.list_collection_names():
                _rename(client, db.name, aside, name)
        raise
    for aside in kept.values():
        db.drop_collection(aside)
