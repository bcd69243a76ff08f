"""The Calendar Assistant's data invariants, checked directly in MongoDB."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pymongo

if TYPE_CHECKING:
    from chaos.recovery.mongo import BackupManifest

__all__ = ["IntegrityReport", "verify_data_integrity"]

REQUIRED = {"users": ("name", "email"), "events": ("user_id", "title", "start", "end")}


@dataclass(frozen=True)
class IntegrityReport:
    counts: dict[str, int]
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_data_integrity(uri: str, database: str, manifest: BackupManifest | None = None) -> IntegrityReport:
    """Required fields present and strings, every event's user exists, counts at least the manifest's."""
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
    try:
        db = client[database]
        problems: list[str] = []
        counts = {name: db[name].count_documents({}) for name in REQUIRED}
        for name, fields in REQUIRED.items():
            for field_name in fields:
                missing = db[name].count_documents({field_name: {"$exists": False}})
                if missing:
                    problems.append(f"{database}.{name}: {missing} documents lack {field_name!r}")
                mistyped = db[name].count_documents({field_name: {"$exists": True, "$not": {"$type": "string"}}})
                if mistyped:
                    problems.append(f"{database}.{name}: {mistyped} documents have a non-string {field_name!r}")
        user_ids = {doc["_id"] for doc in db.users.find({}, {"_id": 1})}
        orphans = {doc["user_id"] for doc in db.events.find({}, {"user_id": 1})} - user_ids
        if orphans:
            problems.append(f"{database}.events: events reference {len(orphans)} missing users, "
                            f"e.g. {sorted(orphans, key=repr)[:3]}")  # fmt: skip
        if manifest is not None:
            for name, entry in manifest.collections.items():
                found = db[name].count_documents({})
                if found < entry["count"]:
                    problems.append(f"{database}.{name}: {found} documents, backup manifest has {entry['count']}")
        return IntegrityReport(counts, problems)
    finally:
        client.close()
