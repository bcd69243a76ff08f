"""Data corruption: MongoDB documents, Redis keys, and a stopped server's data files.

Each fault first snapshots exactly what it is about to destroy into the
ledger's snapshot directory, so that ``revert`` — in this process or, after a
crash, in ``drill cleanup`` — puts the original data back. The effect is
observed by reading the store: the chosen documents differ from their
snapshot or are gone, the keys hold other bytes, the files hash differently.
"""

from __future__ import annotations

import base64
import json
import math
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pymongo
import redis
from bson import json_util

from chaos.errors import ConfigError, FaultNotObservedError, RevertError, SafetyError
from chaos.faults.base import Fault
from chaos.recovery.files import copy_atomically, sha256_file
from chaos.recovery.mongo import index_definitions, recreate_indexes

if TYPE_CHECKING:
    from collections.abc import Callable

    from chaos.faults.ledger import Ledger
    from chaos.targets.base import Target

__all__ = ["DiskCorruption", "MongoCorruption", "RedisCorruption"]

JSON_OPTIONS = json_util.CANONICAL_JSON_OPTIONS


class _Snapshotting(Fault):
    """A fault that keeps what it destroys in ``self.snapshot`` (a directory)."""

    def __init__(self, *, ledger: Ledger | None, snapshot: Path | None = None) -> None:
        super().__init__(ledger=ledger)
        self.snapshot = snapshot

    def _snapshot_path(self) -> Path:
        if self.snapshot is None:
            self.snapshot = self._snapshot_dir() or Path(tempfile.mkdtemp(prefix="chaos-snapshot-"))
        return self.snapshot

    def _drop_snapshot(self) -> None:
        if self.snapshot is not None and self.ledger is None and self.snapshot.name.startswith("chaos-snapshot-"):
            shutil.rmtree(self.snapshot, ignore_errors=True)


class MongoCorruption(_Snapshotting):
    """``garble`` fields of a percentage of documents, ``delete`` a number of them, or ``drop`` the collection."""

    kind = "mongo-corruption"
    MODES = ("garble", "delete", "drop")

    def __init__(
        self,
        uri: str,
        database: str,
        collection: str,
        mode: str,
        *,
        percent: float = 10.0,
        count: int = 10,
        ledger: Ledger | None = None,
        snapshot: Path | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(ledger=ledger, snapshot=snapshot)
        if mode not in self.MODES:
            raise ConfigError(f"MongoDB corruption mode {mode!r}: expected one of {', '.join(self.MODES)}")
        if not 0 < percent <= 100 or count < 1:
            raise ConfigError(f"MongoDB corruption: percent {percent} must be in (0, 100], count {count} at least 1")
        self.uri, self.database, self.collection, self.mode = uri, database, collection, mode
        self.percent, self.count = percent, count
        self._random = random.Random(seed)
        self.ids: list[Any] = []

    def spec(self) -> dict[str, Any]:
        return {"uri": self.uri, "database": self.database, "collection": self.collection, "mode": self.mode,
                "percent": self.percent, "count": self.count}  # fmt: skip

    @classmethod
    def from_spec(cls, spec: dict[str, Any], snapshot: Path | None, target: Target | None = None) -> MongoCorruption:
        return cls(spec["uri"], spec["database"], spec["collection"], spec["mode"], percent=spec["percent"],
                   count=spec["count"], snapshot=snapshot)  # fmt: skip

    def describe(self) -> str:
        how = {"garble": f"garble the fields of {self.percent:g}% of the documents",
               "delete": f"delete {self.count} documents", "drop": "drop the collection"}[self.mode]  # fmt: skip
        return f"{how} in MongoDB {self.database}.{self.collection}"

    def _client(self) -> pymongo.MongoClient[dict[str, Any]]:
        return pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=5000)

    def _apply(self) -> None:
        client = self._client()
        try:
            coll = client[self.database][self.collection]
            every = [doc["_id"] for doc in coll.find({}, {"_id": 1})]
            if not every:
                raise FaultNotObservedError(f"{self.describe()}: the collection is empty; nothing to corrupt")
            if self.mode == "drop":
                self.ids = every
            elif self.mode == "garble":
                self.ids = self._random.sample(every, max(1, math.ceil(len(every) * self.percent / 100)))
            else:
                self.ids = self._random.sample(every, min(self.count, len(every)))
            snapshot = self._snapshot_path()
            with (snapshot / "documents.jsonl").open("w") as out:
                for doc in coll.find({"_id": {"$in": self.ids}}):
                    out.write(json_util.dumps(doc, json_options=JSON_OPTIONS) + "\n")
            (snapshot / "indexes.json").write_text(json.dumps(index_definitions(coll)))
            if self.mode == "drop":
                coll.drop()
            elif self.mode == "delete":
                coll.delete_many({"_id": {"$in": self.ids}})
            else:
                for doc in coll.find({"_id": {"$in": self.ids}}):
                    garbage = {field: self._random.randrange(10**9) for field in doc if field != "_id"}
                    coll.update_one({"_id": doc["_id"]}, {"$set": garbage})
        finally:
            client.close()

    def _originals(self) -> list[dict[str, Any]]:
        path = self._snapshot_path() / "documents.jsonl"
        if not path.exists():
            return []
        return [json_util.loads(line, json_options=JSON_OPTIONS) for line in path.read_text().splitlines() if line]

    def _observe(self) -> None:
        if not self.ids or len(self._originals()) != len(self.ids):
            raise FaultNotObservedError(f"{self.describe()}: no document was chosen and kept; the fault did not land")
        client = self._client()
        try:
            db = client[self.database]
            if self.mode == "drop":
                if self.collection in db.list_collection_names():
                    raise FaultNotObservedError(f"{self.describe()}: the collection still exists")
                return
            present = {doc["_id"]: doc for doc in db[self.collection].find({"_id": {"$in": self.ids}})}
        finally:
            client.close()
        if self.mode == "delete" and present:
            raise FaultNotObservedError(f"{self.describe()}: {len(present)} chosen documents are still there")
        if self.mode == "garble":
            intact = [doc["_id"] for doc in self._originals() if present.get(doc["_id"]) == doc]
            if intact:
                raise FaultNotObservedError(f"{self.describe()}: {len(intact)} chosen documents read back unchanged")

    def _undo(self) -> None:
        originals = self._originals()
        if not originals:
            return
        client = self._client()
        try:
            coll = client[self.database][self.collection]
            for doc in originals:
                coll.replace_one({"_id": doc["_id"]}, doc, upsert=True)
            recreate_indexes(coll, json.loads((self._snapshot_path() / "indexes.json").read_text()))
        finally:
            client.close()
        self._drop_snapshot()


class RedisCorruption(_Snapshotting):
    """Overwrite keys matching a pattern with ``garbage``, or ``flush`` the database."""

    kind = "redis-corruption"
    MODES = ("garbage", "flush")

    def __init__(
        self,
        url: str,
        mode: str,
        *,
        pattern: str = "*",
        count: int | None = None,
        ledger: Ledger | None = None,
        snapshot: Path | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(ledger=ledger, snapshot=snapshot)
        if mode not in self.MODES:
            raise ConfigError(f"Redis corruption mode {mode!r}: expected one of {', '.join(self.MODES)}")
        self.url, self.mode, self.pattern, self.count = url, mode, pattern, count
        self._random = random.Random(seed)
        self.keys: list[bytes] = []

    def spec(self) -> dict[str, Any]:
        return {"url": self.url, "mode": self.mode, "pattern": self.pattern, "count": self.count}

    @classmethod
    def from_spec(cls, spec: dict[str, Any], snapshot: Path | None, target: Target | None = None) -> RedisCorruption:
        return cls(spec["url"], spec["mode"], pattern=spec["pattern"], count=spec["count"], snapshot=snapshot)

    def describe(self) -> str:
        if self.mode == "flush":
            return "flush the Redis database"
        how_many = "all" if self.count is None else str(self.count)
        return f"overwrite {how_many} Redis keys matching {self.pattern!r} with garbage"

    def _client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=5, socket_connect_timeout=5)

    def _apply(self) -> None:
        client = self._client()
        try:
            pattern = "*" if self.mode == "flush" else self.pattern
            keys: list[bytes] = sorted(client.scan_iter(match=pattern, count=1000))
            if not keys:
                raise FaultNotObservedError(f"{self.describe()}: no key matches; nothing to corrupt")
            if self.count is not None and self.mode == "garbage":
                keys = sorted(self._random.sample(keys, min(self.count, len(keys))))
            self.keys = keys
            saved = []
            for key in keys:
                dump, ttl = client.dump(key), client.pttl(key)
                if dump is not None:
                    saved.append({"key": base64.b64encode(key).decode(), "dump": base64.b64encode(dump).decode(),
                                  "pttl": max(int(ttl), 0)})  # fmt: skip
            (self._snapshot_path() / "keys.json").write_text(json.dumps(saved))
            if self.mode == "flush":
                client.flushdb()
            else:
                for key in keys:
                    client.set(key, os.urandom(16), keepttl=True)
        finally:
            client.close()

    def _saved(self) -> list[dict[str, Any]]:
        path = self._snapshot_path() / "keys.json"
        return json.loads(path.read_text()) if path.exists() else []

    def _observe(self) -> None:
        if not self.keys or not self._saved():
            raise FaultNotObservedError(f"{self.describe()}: no key was chosen and kept; the fault did not land")
        client = self._client()
        try:
            if self.mode == "flush":
                # Every key there before the flush is gone; keys written since (a live workload) do not count.
                remaining = [item["key"] for item in self._saved() if client.exists(base64.b64decode(item["key"]))]
                if remaining:
                    raise FaultNotObservedError(f"{self.describe()}: {len(remaining)} keys from before it remain")
                return
            unchanged = [item["key"] for item in self._saved()
                         if client.dump(base64.b64decode(item["key"])) == base64.b64decode(item["dump"])]  # fmt: skip
        finally:
            client.close()
        if unchanged:
            raise FaultNotObservedError(f"{self.describe()}: {len(unchanged)} keys read back unchanged")

    def _undo(self) -> None:
        saved = self._saved()
        if not saved:
            return
        client = self._client()
        try:
            for item in saved:
                client.restore(
                    base64.b64decode(item["key"]), item["pttl"], base64.b64decode(item["dump"]), replace=True
                )
        finally:
            client.close()
        self._drop_snapshot()


class DiskCorruption(_Snapshotting):
    """``flip`` random bytes in, or ``truncate``, the data files of a *stopped* server.

    Each file is copied whole into the snapshot (written, flushed, renamed) and
    the copies' SHA-256 recorded, atomically, before any byte is changed: an
    interruption before the record leaves every file untouched. Revert copies
    back, again atomically, only a snapshot whose hash matches the record, and
    only over a file that no longer matches it; otherwise it raises and leaves
    the file alone.
    """

    kind = "disk-corruption"
    MODES = ("flip", "truncate")

    def __init__(
        self,
        paths: list[Path],
        mode: str,
        *,
        flips: int = 64,
        keep_fraction: float = 0.5,
        is_stopped: Callable[[], bool] | None = None,
        ledger: Ledger | None = None,
        snapshot: Path | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(ledger=ledger, snapshot=snapshot)
        if mode not in self.MODES:
            raise ConfigError(f"disk corruption mode {mode!r}: expected one of {', '.join(self.MODES)}")
        if not 0 <= keep_fraction < 1 or flips < 1:
            raise ConfigError("disk corruption: keep_fraction must be in [0, 1) and flips at least 1")
        self.paths, self.mode, self.flips, self.keep_fraction = [Path(p) for p in paths], mode, flips, keep_fraction
        self.is_stopped = is_stopped
        self._random = random.Random(seed)

    def spec(self) -> dict[str, Any]:
        return {"paths": [str(p) for p in self.paths], "mode": self.mode, "flips": self.flips,
                "keep_fraction": self.keep_fraction}  # fmt: skip

    @classmethod
    def from_spec(cls, spec: dict[str, Any], snapshot: Path | None, target: Target | None = None) -> DiskCorruption:
        return cls([Path(p) for p in spec["paths"]], spec["mode"], flips=spec["flips"],
                   keep_fraction=spec["keep_fraction"], snapshot=snapshot)  # fmt: skip

    def describe(self) -> str:
        names = ", ".join(path.name for path in self.paths)
        if self.mode == "flip":
            return f"flip {self.flips} random bytes in each of {names}"
        return f"truncate {names} to {self.keep_fraction:.0%} of their size"

    def _apply(self) -> None:
        if self.is_stopped is not None and not self.is_stopped():
            raise SafetyError(f"{self.describe()}: the server is running; stop it before corrupting its files")
        if not self.paths or not all(path.is_file() for path in self.paths):
            raise FaultNotObservedError(f"{self.describe()}: missing data files {self.paths}")
        snapshot = self._snapshot_path()
        digests = {str(path): copy_atomically(path, snapshot / f"{number}.orig") for number, path in
                   enumerate(self.paths)}  # fmt: skip
        record = snapshot / ".digests.json.part"
        record.write_text(json.dumps(digests))
        os.replace(record, snapshot / "digests.json")  # from here on the files may change
        for path in self.paths:
            size = path.stat().st_size
            if self.mode == "truncate":
                os.truncate(path, int(size * self.keep_fraction))
                continue
            with path.open("r+b") as data:
                for offset in self._random.sample(range(size), min(self.flips, size)):
                    data.seek(offset)
                    byte = data.read(1)
                    data.seek(offset)
                    data.write(bytes([byte[0] ^ 0xFF]))

    def _observe(self) -> None:
        record = self._snapshot_path() / "digests.json"
        if not record.exists():
            raise FaultNotObservedError(f"{self.describe()}: no file was copied and changed; the fault did not land")
        digests = json.loads(record.read_text())
        same = [path for path in self.paths if sha256_file(path) == digests[str(path)]]
        if same:
            raise FaultNotObservedError(f"{self.describe()}: {[p.name for p in same]} read back unchanged")

    def _undo(self) -> None:
        snapshot = self._snapshot_path()
        record = snapshot / "digests.json"
        if not record.exists():
            return  # the snapshot never completed, so no file was changed
        digests = json.loads(record.read_text())
        for number, path in enumerate(self.paths):
            expected = digests[str(path)]
            if path.is_file() and sha256_file(path) == expected:
                continue
            original = snapshot / f"{number}.orig"
            if not original.is_file() or sha256_file(original) != expected:
                raise RevertError(f"cannot restore {path}: its copy {original} is missing or does not match the "
                                  f"SHA-256 recorded before the corruption; {path} was left as it is and the copy "
                                  "is kept (restore it from a backup)")  # fmt: skip
            if copy_atomically(original, path) != expected:
                raise RevertError(f"restoring {path} from {original} wrote other bytes than recorded")
        self._drop_snapshot()
