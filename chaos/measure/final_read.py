"""The final read: what the stores hold under a writer's ids, read directly, not through the app.

The writers have stopped when it runs, so a store that refuses the connection is waited for (up to
``REFUSED_WAIT_S``) rather than taken for empty or given up on: on Kubernetes a Service reaches a
pod restarted in place only once its endpoints have caught up with the pod's readiness, seconds
after the pod answered. A store still unreachable then is an error, and the accounting unknown.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, cast

import pymongo
import redis

if TYPE_CHECKING:
    from chaos.measure.workload import Workload

__all__ = ["REFUSED_WAIT_S", "read_tracked"]

REFUSED_WAIT_S = 30.0

Found = list[tuple[str, dict[str, Any]]]


def _read_mongodb(uri: str, database: str, collection: str, id_prefix: str) -> Found:
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
    try:
        query = {"_id": {"$gte": id_prefix, "$lt": id_prefix + "\uffff"}}
        return [(str(doc.pop("_id")), doc) for doc in client[database][collection].find(query).batch_size(5000)]
    finally:
        client.close()


def _read_redis(url: str, key_prefix: str, id_prefix: str) -> Found:
    deadline = time.monotonic() + REFUSED_WAIT_S
    while True:
        client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        try:
            keys: list[bytes] = list(client.scan_iter(match=f"{key_prefix}{id_prefix}*", count=1000))
            values = cast("list[bytes | None]", client.mget(keys)) if keys else []
            return [
                (key.decode()[len(key_prefix) :], {"user_id": value.decode()})
                for key, value in zip(keys, values, strict=True)
                if value is not None
            ]
        except redis.ConnectionError as exc:
            # Read again from the start: the scan is a read, and nothing writes any more.
            if not isinstance(exc.__cause__ or exc.__context__, ConnectionRefusedError) or (
                time.monotonic() >= deadline
            ):
                raise
        finally:
            client.close()
        time.sleep(0.5)


def read_tracked(workload: Workload, *, mongodb_uri: str, redis_url: str, database: str, id_prefix: str) -> Found:
    """Every stored record whose id starts with ``id_prefix``, as (id, fields); an id may repeat."""
    if workload.store == "redis":
        return _read_redis(redis_url, workload.location, id_prefix)
    return _read_mongodb(mongodb_uri, database, workload.location, id_prefix)
