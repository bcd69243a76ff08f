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
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, cast
from urllib.parse import quote

import bson
import pymongo
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from tqdm import tqdm

from chaos.errors import BackupError, BackupVerificationError, ConfigError
from chaos.recovery.files import new_output_dir, sha256_file

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from pymongo.collection import Collection
    from pymongo.database import Database

__all__ = [
    "BackupManifest",
    "backup_ids",
    "backup_mongodb",
    "collection_file",
    "index_definitions",
    "iter_documents",
    "mongo_client",
    "progress_bar",
    "read_manifest",
    "recreate_indexes",
    "redact_uri",
    "require_database",
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


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def iter_documents(stream: Readable, source: Path) -> Iterator[bytes]:
    """Each BSON document of a backup file, as its bytes; a cut-off document is an error naming the file."""
    while header := stream.read(4):
        if len(header) < 4:
            raise BackupVerificationError(f"{source}: ends inside a document length; the file is truncated")
        size = int.from_bytes(header, "little")
        body = stream.read(size - 4)
        if size < 5 or len(body) != size - 4:
            raise BackupVerificationError(f"{source}: a document is cut off; the file is truncated or corrupt")
        yield header + body


def progress_bar(total: int, what: str) -> tqdm[Any]:
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


def mongo_client(uri: str) -> pymongo.MongoClient[dict[str, Any]]:
    return pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000, connectTimeoutMS=5000)


def redact_uri(uri: str) -> str:
    scheme, _, rest = uri.partition("://")
    return f"{scheme}://{rest.split('@', 1)[-1]}"


def _dump(db: Database[Any], name: str, path: Path) -> dict[str, Any]:
    """One collection into ``path``, as raw BSON through gzip; its manifest entry."""
    count = 0
    collection = cast("Collection[RawBSONDocument]", db.get_collection(name, codec_options=RAW))
    with path.open("wb") as raw, progress_bar(db[name].estimated_document_count(), f"backup {name}") as bar:
        hashing = _HashingWriter(raw)
        with gzip.GzipFile(fileobj=hashing, mode="wb", mtime=0, compresslevel=GZIP_LEVEL) as out:
            for doc in collection.find().sort("_id", 1).batch_size(BATCH):
                out.write(doc.raw)
                count += 1
                if count % BATCH == 0:
                    bar.update(BATCH)
    return {"file": path.name, "count": count, "sha256": hashing.digest.hexdigest(),
            "indexes": index_definitions(db[name])}  # fmt: skip


def require_database(uri: str, database: str) -> None:
    """Refuse a database the server does not have: a mistyped name must not make an empty backup that verifies."""
    client = mongo_client(uri)
    try:
        present = client.list_database_names()
    except pymongo.errors.PyMongoError as exc:
        raise BackupError(f"MongoDB at {redact_uri(uri)} does not answer: {exc}") from exc
    finally:
        client.close()
    if database not in present:
        raise ConfigError(f"MongoDB at {redact_uri(uri)} has no database {database!r} (it has: "
                          f"{', '.join(sorted(present)) or 'none'}); nothing was backed up")  # fmt: skip


def collection_file(name: str) -> str:
    """The file a collection is dumped into: its name percent-encoded (``a/b`` -> ``a%2Fb.bson.gz``, as
    mongodump writes it), so a name from the database is never a path on disk (MongoDB refuses names
    with ``..`` or a leading dot)."""
    return quote(name, safe="") + ".bson.gz"


def backup_mongodb(uri: str, database: str, output: Path) -> BackupManifest:
    """Dump every collection of ``database`` into ``output`` (created; must be empty)."""
    client = mongo_client(uri)
    try:
        with new_output_dir(output):
            db = client[database]
            collections = {name: _dump(db, name, output / collection_file(name))
                           for name in sorted(db.list_collection_names())}  # fmt: skip
            manifest = BackupManifest(output, database, redact_uri(uri), time.time(), collections)
            (output / MANIFEST).write_text(json.dumps(manifest.to_json(), indent=2))
    except pymongo.errors.PyMongoError as exc:
        raise BackupError(f"backup of {database} from {redact_uri(uri)} failed: {exc}") from exc
    finally:
        client.close()
    return manifest


def backup_ids(manifest: BackupManifest, collection: str) -> set[Any]:
    """The ``_id`` of every document the backup holds of ``collection`` (none if it holds no such collection)."""
    entry = manifest.collections.get(collection)
    if entry is None:
        return set()
    source = manifest.path / entry["file"]
    with gzip.open(source, "rb") as stream:
        return {bson.decode(document)["_id"] for document in iter_documents(stream, source)}


def read_manifest(backup_dir: Path) -> BackupManifest:
    """The manifest of the backup in ``backup_dir``, checked for its shape, not against the files."""
    path = backup_dir / MANIFEST
    try:
        data = json.loads(path.read_bytes())
        manifest = BackupManifest(backup_dir, data["database"], data["source"], data["created_at"],
                                  data["collections"])  # fmt: skip
    except FileNotFoundError:
        raise BackupVerificationError(f"{path}: missing; not a backup directory") from None
    except OSError as exc:
        raise BackupVerificationError(f"{path}: cannot read it: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupVerificationError(f"{path}: unreadable manifest: {exc!r}") from None
    if not isinstance(manifest.database, str) or not manifest.database:
        raise BackupVerificationError(f"{path}: names no database; a backup must say what it is a backup of")
    if not isinstance(manifest.collections, dict):
        raise BackupVerificationError(f"{path}: 'collections' is not a mapping")
    for name, entry in manifest.collections.items():
        fields = {"file": str, "count": int, "sha256": str, "indexes": list}
        if not isinstance(entry, dict) or any(not isinstance(entry.get(key), kind) for key, kind in fields.items()):
            raise BackupVerificationError(f"{path}: collection {name!r}: expected file, count, sha256 and indexes")
        if entry["count"] < 0 or "/" in entry["file"] or entry["file"].startswith("."):
            raise BackupVerificationError(f"{path}: collection {name!r}: bad count or file name")
    return manifest


def verify_backup(backup_dir: Path) -> BackupManifest:
    """Re-read every file: its SHA-256 and its document count must match the manifest, and every
    document must decode as BSON with an ``_id``: what verifies here restores."""
    manifest = read_manifest(backup_dir)
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
                count = 0
                for document in iter_documents(stream, path):
                    _check_document(document, path)
                    count += 1
        except (OSError, EOFError) as exc:
            raise BackupVerificationError(f"{path}: not a readable gzip file: {exc}") from None
        if count != entry["count"]:
            raise BackupVerificationError(f"{path}: {count} documents, manifest says {entry['count']}")
    return manifest


def _check_document(document: bytes, source: Path) -> None:
    try:
        decoded = bson.decode(document)
    except Exception as exc:  # bson raises InvalidBSON, but also ValueError and others on garbage
        raise BackupVerificationError(f"{source}: a document does not decode as BSON ({exc}); the backup "
                                      "would not restore") from None  # fmt: skip
    if "_id" not in decoded:
        raise BackupVerificationError(f"{source}: a document has no _id; the backup would not restore")


def index_definitions(collection: Collection[Any]) -> list[dict[str, Any]]:
    """The collection's indexes other than ``_id_``, as plain data for a manifest or snapshot."""
    return [{"name": name, "key": list(info["key"]), "unique": bool(info.get("unique", False))}
            for name, info in collection.index_information().items() if name != "_id_"]  # fmt: skip


def recreate_indexes(collection: Collection[Any], indexes: list[dict[str, Any]]) -> None:
    for index in indexes:
        collection.create_index([tuple(pair) for pair in index["key"]], name=index["name"], unique=index["unique"])
