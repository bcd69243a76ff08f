"""Data access: MongoDB for users and events, Redis for the event cache and sessions."""

from __future__ import annotations

import contextlib
import json
import secrets
from typing import Any

import pymongo
import pymongo.errors
import redis

EVENT_CACHE_TTL_S = 60
SESSION_TTL_S = 3600
USER_FIELDS = {"name": str, "email": str}
EVENT_FIELDS = {"user_id": str, "title": str, "start": str, "end": str}
SETTING_FIELDS = {"value": str}


class NotFound(Exception):
    pass


class Conflict(Exception):
    pass


class Invalid(Exception):
    pass


def validate(doc: dict[str, Any], fields: dict[str, type], *, partial: bool = False) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for name, kind in fields.items():
        if name not in doc:
            if partial:
                continue
            raise Invalid(f"missing field {name!r}")
        if not isinstance(doc[name], kind):
            raise Invalid(f"field {name!r} must be {kind.__name__}")
        clean[name] = doc[name]
    if "description" in doc:
        clean["description"] = str(doc["description"])
    return clean


class Store:
    def __init__(self, mongodb_uri: str, redis_url: str, database: str) -> None:
        self._mongo: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
            mongodb_uri,
            serverSelectionTimeoutMS=1000,
            connectTimeoutMS=1000,
            socketTimeoutMS=3000,
            retryWrites=False,
        )
        self._db = self._mongo[database]
        self._redis = redis.Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1)

    def close(self) -> None:
        self._mongo.close()
        self._redis.close()

    # -- health -------------------------------------------------------------
    def check(self) -> dict[str, str]:
        status: dict[str, str] = {}
        try:
            self._mongo.admin.command("ping")
            status["mongodb"] = "ok"
        except pymongo.errors.PyMongoError as exc:
            status["mongodb"] = f"error: {type(exc).__name__}: {str(exc)[:200]}"
        try:
            self._redis.ping()
            status["redis"] = "ok"
        except redis.RedisError as exc:
            status["redis"] = f"error: {type(exc).__name__}: {str(exc)[:200]}"
        return status

    # -- users --------------------------------------------------------------
    def create_user(self, user_id: str, body: dict[str, Any]) -> dict[str, Any]:
        doc = {"_id": user_id, **validate(body, USER_FIELDS)}
        try:
            self._db.users.insert_one(doc)
        except pymongo.errors.DuplicateKeyError as exc:
            raise Conflict(f"user {user_id!r} exists") from exc
        return doc

    def get_user(self, user_id: str) -> dict[str, Any]:
        doc = self._db.users.find_one({"_id": user_id})
        if doc is None:
            raise NotFound(f"user {user_id!r}")
        return doc

    def _update(self, collection: str, doc_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        doc = self._db[collection].find_one_and_update(
            {"_id": doc_id}, {"$set": changes}, return_document=pymongo.ReturnDocument.AFTER
        )
        if doc is None:
            raise NotFound(f"{collection[:-1]} {doc_id!r}")
        return doc

    def update_user(self, user_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._update("users", user_id, validate(body, USER_FIELDS, partial=True))

    def delete_user(self, user_id: str) -> None:
        if self._db.users.delete_one({"_id": user_id}).deleted_count == 0:
            raise NotFound(f"user {user_id!r}")

    # -- events -------------------------------------------------------------
    def create_event(self, event_id: str, body: dict[str, Any]) -> dict[str, Any]:
        doc = {"_id": event_id, **validate(body, EVENT_FIELDS)}
        if self._db.users.count_documents({"_id": doc["user_id"]}, limit=1) == 0:
            raise Invalid(f"user {doc['user_id']!r} does not exist")
        try:
            self._db.events.insert_one(doc)
        except pymongo.errors.DuplicateKeyError as exc:
            raise Conflict(f"event {event_id!r} exists") from exc
        return doc

    def get_event(self, event_id: str) -> tuple[dict[str, Any], bool]:
        """The event and whether it came from the cache."""
        key = f"event:{event_id}"
        try:
            cached = self._redis.get(key)
        except redis.RedisError:
            cached = None
        if cached is not None:
            return json.loads(cached), True
        doc = self._db.events.find_one({"_id": event_id})
        if doc is None:
            raise NotFound(f"event {event_id!r}")
        with contextlib.suppress(redis.RedisError):  # the cache is an optimisation; reads work without it
            self._redis.set(key, json.dumps(doc), ex=EVENT_CACHE_TTL_S)
        return doc, False

    def list_events(self, user_id: str) -> list[dict[str, Any]]:
        return list(self._db.events.find({"user_id": user_id}).sort("_id", 1).limit(1000))

    def update_event(self, event_id: str, body: dict[str, Any]) -> dict[str, Any]:
        doc = self._update("events", event_id, validate(body, EVENT_FIELDS, partial=True))
        self._redis.delete(f"event:{event_id}")
        return doc

    def delete_event(self, event_id: str) -> None:
        if self._db.events.delete_one({"_id": event_id}).deleted_count == 0:
            raise NotFound(f"event {event_id!r}")
        self._redis.delete(f"event:{event_id}")

    # -- settings (the system configuration) --------------------------------
    def create_setting(self, key: str, body: dict[str, Any]) -> dict[str, Any]:
        doc = {"_id": key, **validate(body, SETTING_FIELDS)}
        try:
            self._db.settings.insert_one(doc)
        except pymongo.errors.DuplicateKeyError as exc:
            raise Conflict(f"setting {key!r} exists") from exc
        return doc

    def get_setting(self, key: str) -> dict[str, Any]:
        doc = self._db.settings.find_one({"_id": key})
        if doc is None:
            raise NotFound(f"setting {key!r}")
        return doc

    def update_setting(self, key: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._update("settings", key, validate(body, SETTING_FIELDS, partial=True))

    # -- sessions -----------------------------------------------------------
    def create_session(self, user_id: str, token: str | None = None) -> str:
        """A session for an existing user; the client may choose the token so it can be tracked."""
        self.get_user(user_id)
        token = token or secrets.token_urlsafe(16)
        if not self._redis.set(f"session:{token}", user_id, ex=SESSION_TTL_S, nx=True):
            raise Conflict(f"session {token!r} exists")
        return token

    def get_session(self, token: str) -> str:
        user_id = self._redis.get(f"session:{token}")
        if user_id is None:
            raise NotFound("session")
        return user_id.decode()
