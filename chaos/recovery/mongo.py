"""MongoDB logical backup, verification and restore.

A backup directory holds, per collection, one gzip-compressed file of the
documents as raw BSON, one after the other (as mongodump writes them), and
``manifest.json`` with the document count, the SHA-256 of each file and the
index definitions. Documents go from the cursor to the file, and from the file
to the server, as the server's own bytes: nothing is decoded or re-encoded,
and memory stays flat as data grows.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import pymongo
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from tqdm import tqdm

from chaos.errors import BackupError, BackupVerificationError
from chaos.recovery.files import new_output_dir, sha256_file

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from pymongo.collection import Collection

__all__ = [
    "BackupManifest",
    "backup_mongodb",
    "index_definitions",
    "iter_documents",
    "recreate_indexes",
    "restore_mongodb",
    "verify_backup",
]

MANIFEST = "manifest.json"
BATCH = 1000
RAW: CodecOptions[RawBSONDocument] = CodecOptions(document_class=RawBSONDocument)
GZIP_LEVEL = 1  # level 9 costs several times the CPU for a few percent of size


class _HashingWriter(io.RawIOBase):
    """Writes through to a file and hashes the bytes on the way: one pass, flat memory."""

    def __init__(self, target: BinaryIO) -> None:
        self.target = target
        self.digest = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.digest.update(view)
        return self.target.write(view)


def iter_documents(stream: BinaryIO, source: Path) -> Iterator[bytes]:
    """Each BSON document of a backup file, as its bytes; a cut-off document is an error naming the file."""
    while header := stream.read(4):
        if len(header) < 4:
            raise BackupVerificationError(f"{source}: ends inside a document length; the file is truncated")
        size = int.from_bytes(header, "little")
        body = stream.read(size - 4)
        if size < 5 or len(body) != size - 4:
            raise BackupVerificationError(f"{source}: a document is cut off; the file is truncated or corrupt")
        yield header + body


def _progress(total: int, what: str) -> tqdm[Any]:
    # Shown on a terminal only (disable=None); CI logs stay clean.
    return tqdm(total=total, desc=what, unit="doc", unit_scale=True, disable=None, leave=False, file=sys.stderr)


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
    new_output_dir(output)
    client = _client(uri)
    try:
        db = client[database]
        collections: dict[str, dict[str, Any]] = {}
        for name in sorted(db.list_collection_names()):
            path = output / f"{name}.bson.gz"
            count = 0
            collection = cast("Collection[RawBSONDocument]", db.get_collection(name, codec_options=RAW))
            with path.open("wb") as raw, _progress(db[name].estimated_document_count(), f"backup {name}") as bar:
                hashing = _HashingWriter(raw)
                with gzip.GzipFile(fileobj=hashing, mode="wb", mtime=0, compresslevel=GZIP_LEVEL) as out:
                    for doc in collection.find().sort("_id", 1).batch_size(BATCH):
                        out.write(doc.raw)
                        count += 1
                        if count % BATCH == 0:
                            bar.update(BATCH)
            digest = hashing.digest
            indexes = index_definitions(db[name])
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
            digest = sha256_file(path)
        except OSError as exc:
            raise BackupVerificationError(f"{path}: cannot read collection {name!r}: {exc.strerror}") from None
        if digest != entry["sha256"]:
            raise BackupVerificationError(
                f"{path}: SHA-256 {digest[:12]}… differs from the manifest's {entry['sha256'][:12]}…; "
                "the file is corrupt or truncated"
            )
        try:
            with gzip.open(path, "rb") as stream:
                count = sum(1 for _ in iter_documents(stream, path))
        except (OSError, EOFError) as exc:
            raise BackupVerificationError(f"{path}: not a readable gzip file: {exc}") from None
        if count != entry["count"]:
            raise BackupVerificationError(f"{path}: {count} documents, manifest says {entry['count']}")
    return manifest


def index_definitions(collection: Collection[Any]) -> list[dict[str, Any]]:
    """The collection's indexes other than ``_id_``, as plain data for a manifest or snapshot."""
    return [{"name": name, "key": list(info["key"]), "unique": bool(info.get("unique", False))}
            for name, info in collection.index_information().items() if name != "_id_"]  # fmt: skip


def recreate_indexes(collection: Collection[Any], indexes: list[dict[str, Any]]) -> None:
    for index in indexes:
        collection.create_index([tuple(pair) for pair in index["key"]], name=index["name"], unique=index["unique"])


def _insert(collection: Collection[RawBSONDocument], batch: list[RawBSONDocument]) -> int:
    return len(batch) if collection.insert_many(batch, ordered=False).acknowledged else 0


def restore_mongodb(backup_dir: Path, uri: str, database: str | None = None) -> BackupManifest:
    """Verify the backup, then load it into ``database`` (replacing its collections), recreating indexes.

    Every insert is acknowledged by the server; their count must equal the manifest's.
    """
    manifest = verify_backup(backup_dir)
    target = database or manifest.database
    client = _client(uri)
    try:
        db = client[target]
        # The database is brought to the backup's state: a collection the backup does not
        # have (created, or corrupted, since) goes too.
        for name in set(db.list_collection_names()) - set(manifest.collections):
            db.drop_collection(name)
        for name, entry in manifest.collections.items():
            db.drop_collection(name)
            collection = cast("Collection[RawBSONDocument]", db.get_collection(name, codec_options=RAW))
            source = backup_dir / entry["file"]
            batch: list[RawBSONDocument] = []
            # Counted from the server's acknowledgements — an acknowledged insert_many that raised
            # no BulkWriteError inserted its whole batch — exact, without re-reading the collection
            # (a full scan on some servers, FerretDB among them).
            restored = 0

            with gzip.open(source, "rb") as stream, _progress(entry["count"], f"restore {name}") as bar:
                for document in iter_documents(stream, source):
                    batch.append(RawBSONDocument(document))
                    if len(batch) >= BATCH:
                        restored += _insert(collection, batch)
                        bar.update(len(batch))
                        batch.clear()
                if batch:
                    restored += _insert(collection, batch)
                    bar.update(len(batch))
            if entry["count"] == 0:
                db.create_collection(name)
            recreate_indexes(db[name], entry["indexes"])
            if restored != entry["count"]:
                raise BackupError(f"restore of {target}.{name}: {restored} documents, backup has {entry['count']}")
    except pymongo.errors.PyMongoError as exc:
        raise BackupError(f"restore of {backup_dir} into {target} at {_redact(uri)} failed: {exc}") from exc
    finally:
        client.close()
    return manifest
