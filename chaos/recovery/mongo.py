"""MongoDB logical backup, verification and restore.

A backup directory holds one gzip-compressed file of canonical extended JSON
lines per collection, and ``manifest.json`` with, per collection, the document
count, the SHA-256 of the file and the index definitions. Backup and restore
stream documents in batches, so memory stays flat as data grows.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pymongo
from bson import json_util

from chaos.errors import BackupError, BackupVerificationError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["BackupManifest", "backup_mongodb", "restore_mongodb", "verify_backup"]

MANIFEST = "manifest.json"
BATCH = 1000
JSON_OPTIONS = json_util.CANONICAL_JSON_OPTIONS


@dataclass(frozen=True)
class BackupManifest:
    path: Path
    database: str
    source: str
    created_at: float
    collections: dict[str, dict[str, Any]]

    def count(self, collection: str) -> int:
        return int(self.collections[collection]["count"])

    def to_json(self) -> dict[str, Any]:
        return {"database": self.database, "source": self.source, "created_at": self.created_at,
                "collections": self.collections}  # fmt: skip


def _client(uri: str) -> pymongo.MongoClient[dict[str, Any]]:
    return pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000, connectTimeoutMS=5000)


def _redact(uri: str) -> str:
    scheme, _, rest = uri.partition("://")
    return f"{scheme}://{rest.split('@', 1)[-1]}"


def backup_mongodb(uri: str, database: str, output: Path) -> BackupManifest:
    """Dump every collection of ``database`` into ``output`` (created; must be empty)."""
    output.mkdir(parents=True, exist_ok=True)
    if any(output.iterdir()):
        raise BackupError(f"backup output {output} is not empty; choose a new directory")
    client = _client(uri)
    try:
        db = client[database]
        collections: dict[str, dict[str, Any]] = {}
        for name in sorted(db.list_collection_names()):
            path = output / f"{name}.jsonl.gz"
            digest, count = hashlib.sha256(), 0
            with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
                for doc in db[name].find().sort("_id", 1).batch_size(BATCH):
                    out.write(json_util.dumps(doc, json_options=JSON_OPTIONS).encode() + b"\n")
                    count += 1
            digest.update(path.read_bytes())
            indexes = [
                {"name": index_name, "key": list(info["key"]), "unique": bool(info.get("unique", False))}
                for index_name, info in db[name].index_information().items() if index_name != "_id_"
            ]  # fmt: skip
            collections[name] = {"file": path.name, "count": count, "sha256": digest.hexdigest(),
                                 "indexes": indexes}  # fmt: skip
    except pymongo.errors.PyMongoError as exc:
        raise BackupError(f"backup of {database} from {_redact(uri)} failed: {exc}") from exc
    finally:
        client.close()
    manifest = BackupManifest(output, database, _redact(uri), time.time(), collections)
    (output / MANIFEST).write_text(json.dumps(manifest.to_json(), indent=2))
    return manifest


def _read_manifest(backup_dir: Path) -> BackupManifest:
    path = backup_dir / MANIFEST
    try:
        data = json.loads(path.read_text())
        return BackupManifest(backup_dir, data["database"], data["source"], data["created_at"], data["collections"])
    except FileNotFoundError:
        raise BackupVerificationError(f"{path}: missing; not a backup directory") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupVerificationError(f"{path}: unreadable manifest: {exc!r}") from None


def verify_backup(backup_dir: Path) -> BackupManifest:
    """Re-read every file: its SHA-256 and its document count must match the manifest."""
    manifest = _read_manifest(backup_dir)
    for name, entry in manifest.collections.items():
        path = backup_dir / entry["file"]
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            raise BackupVerificationError(f"{path}: cannot read collection {name!r}: {exc.strerror}") from None
        if digest != entry["sha256"]:
            raise BackupVerificationError(
                f"{path}: SHA-256 {digest[:12]}… differs from the manifest's {entry['sha256'][:12]}…; "
                "the file is corrupt or truncated"
            )
        try:
            with gzip.open(path, "rb") as lines:
                count = sum(1 for _ in lines)
        except (OSError, EOFError) as exc:
            raise BackupVerificationError(f"{path}: not a readable gzip file: {exc}") from None
        if count != entry["count"]:
            raise BackupVerificationError(f"{path}: {count} documents, manifest says {entry['count']}")
    return manifest


def restore_mongodb(backup_dir: Path, uri: str, database: str | None = None) -> BackupManifest:
    """Verify the backup, then load it into ``database`` (replacing its collections) and re-check counts."""
    manifest = verify_backup(backup_dir)
    target = database or manifest.database
    client = _client(uri)
    try:
        db = client[target]
        for name, entry in manifest.collections.items():
            db.drop_collection(name)
            batch: list[dict[str, Any]] = []
            with gzip.open(backup_dir / entry["file"], "rb") as lines:
                for line in lines:
                    batch.append(json_util.loads(line, json_options=JSON_OPTIONS))
                    if len(batch) >= BATCH:
                        db[name].insert_many(batch, ordered=False)
                        batch.clear()
            if batch:
                db[name].insert_many(batch, ordered=False)
            if entry["count"] == 0:
                db.create_collection(name)
            for index in entry["indexes"]:
                db[name].create_index([tuple(pair) for pair in index["key"]], name=index["name"],
                                      unique=index["unique"])  # fmt: skip
            restored = db[name].count_documents({})
            if restored != entry["count"]:
                raise BackupError(f"restore of {target}.{name}: {restored} documents, backup has {entry['count']}")
    except pymongo.errors.PyMongoError as exc:
        raise BackupError(f"restore of {backup_dir} into {target} at {_redact(uri)} failed: {exc}") from exc
    finally:
        client.close()
    return manifest
