"""The final read: what the store holds under a writer's ids, read directly from MongoDB."""

from __future__ import annotations

from typing import Any

import pymongo

__all__ = ["read_tracked"]


def read_tracked(uri: str, database: str, collection: str, id_prefix: str) -> dict[str, dict[str, Any]]:
    """Every document whose id starts with ``id_prefix``, as id -> fields (without ``_id``)."""
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
    try:
        query = {"_id": {"$gte": id_prefix, "$lt": id_prefix + "\uffff"}}
        return {str(doc.pop("_id")): doc for doc in client[database][collection].find(query).batch_size(5000)}
    finally:
        client.close()
