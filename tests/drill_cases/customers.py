"""Customer records the drill did not write: data that must never leave the backup store.

Loaded by tests/integration/test_user_data.py (``-p tests.drill_cases.customers``)
with ``CHAOS_CUSTOMER_MARKER`` set: as soon as a drill's stack runs, users, events
and Redis sessions carrying the marker are written straight into the stores, as a
real system's users would already be there. Every backup then holds them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pymongo
import redis

if TYPE_CHECKING:
    import pytest

CUSTOMERS = 25


def pytest_bdd_after_step(request: pytest.FixtureRequest, feature: Any, scenario: Any, step: Any,
                          step_func: Any, step_func_args: dict[str, Any]) -> None:  # fmt: skip
    if not step.name.startswith("the Calendar Assistant is running with"):
        return
    marker = os.environ["CHAOS_CUSTOMER_MARKER"]
    endpoints = request.getfixturevalue("target").endpoints
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(endpoints.mongodb_uri)
    try:
        db = client[endpoints.database]
        db.users.insert_many([{"_id": f"customer-{n}", "name": f"{marker} customer {n}",
                               "email": f"customer{n}@{marker}.example"} for n in range(CUSTOMERS)])  # fmt: skip
        db.events.insert_many([{"_id": f"customer-event-{n}", "user_id": f"customer-{n}",
                                "title": f"{marker} private appointment {n}", "start": "2026-12-01T09:00:00Z",
                                "end": "2026-12-01T10:00:00Z"} for n in range(CUSTOMERS)])  # fmt: skip
    finally:
        client.close()
    cache = redis.Redis.from_url(endpoints.redis_url)
    try:
        cache.mset({f"session:customer-{n}": f"customer-{n} {marker}" for n in range(CUSTOMERS)})
    finally:
        cache.close()
