"""``MongoCatalog``: the Catalog port on MongoDB, one collection per kind as the seed names them."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from lamdis_core.logs import get_logger
from lamdis_core.ports.catalog import CatalogKind
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from lamdis_store_mongo._convert import micro_remainders
from lamdis_store_mongo._keys import escape_keys, unescape_keys
from lamdis_store_mongo._retry import once_more
from lamdis_store_mongo._schedule import MongoScheduleClaims

logger = get_logger()

Doc = dict[str, Any]

COLLECTIONS: dict[CatalogKind, str] = {
    CatalogKind.ORGANIZATIONS: "organizations",
    CatalogKind.SUITES: "testsuites",
    CatalogKind.TESTS: "tests",
    CatalogKind.ENVIRONMENTS: "environments",
    CatalogKind.PERSONAS: "personas",
    CatalogKind.REQUESTS: "requests",
    CatalogKind.AUTH: "auth",
}

# fields the catalog owns; a document's own copies are replaced
_MANAGED = ("_id", "orgId", "createdAt", "updatedAt", "_us")


def _object_id(text: str | None) -> ObjectId | None:
    """``text`` as an ObjectId when it is one's 24-hex form (an id other tools hand out)."""
    if isinstance(text, str) and len(text) == 24 and ObjectId.is_valid(text):
        return ObjectId(text)
    return None


def _org_filter(org_id: str) -> Any:
    # Documents written by other tools (the seed's own service) hold orgId as an ObjectId.
    oid = _object_id(org_id)
    return org_id if oid is None else {"$in": [org_id, oid]}


def _hex_ids(value: Any) -> Any:
    """``value`` with every ObjectId (a reference another tool stored) as its hex string, the
    form the rest of lamdis uses for ids."""
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, dict):
        return {k: _hex_ids(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_hex_ids(v) for v in value]
    return value


def _iso(value: Any) -> Any:
    if not isinstance(value, datetime):
        return value
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.isoformat().replace("+00:00", "Z")


class MongoCatalog(MongoScheduleClaims):
    """Catalog on MongoDB: collections ``organizations, testsuites, tests, environments,
    personas, requests``; each document keeps its own ``id`` beside an ObjectId ``_id``, with
    ``orgId`` and BSON-date ``createdAt``/``updatedAt``. A unique index on ``(orgId, id)``
    keeps ids unique per kind and organization.

    A document is also found by the hex string of its ``_id``, as the seed's service finds
    it; a document another tool wrote without an ``id`` reads back with that string as its
    ``id``, and ObjectIds inside documents (``orgId``, ``suiteId``...) read back as hex
    strings."""

    def __init__(
        self, database: AsyncDatabase[Doc], *, where: str = "the configured server"
    ) -> None:
        self._db = database
        self._where = where

    def _collection(self, kind: CatalogKind) -> AsyncCollection[Doc]:
        return self._db[COLLECTIONS[CatalogKind(kind)]]

    async def create_indexes(self) -> None:
        """Create the ``(orgId, id)`` unique index and the ``id`` index. Safe on every start."""
        for kind in COLLECTIONS:
            collection = self._collection(kind)
            indexes = [
                IndexModel([("orgId", ASCENDING), ("id", ASCENDING)], unique=True, name="org_id"),
                IndexModel([("id", ASCENDING)], name="by_id"),
            ]
            for index in indexes:  # one per command, as in MongoRunStore.create_indexes
                await once_more(
                    f"create {collection.name} indexes",
                    self._where,
                    lambda c=collection, i=index: c.create_indexes([i]),  # type: ignore[misc]
                )

    def _out(self, doc: Doc) -> Doc:
        out: Doc = _hex_ids(
            unescape_keys({k: v for k, v in doc.items() if k not in ("_id", "_us")})
        )
        if not isinstance(out.get("id"), str) and isinstance(doc.get("_id"), ObjectId):
            out["id"] = str(doc["_id"])
        micros = doc.get("_us") or {}
        for name in ("createdAt", "updatedAt"):
            value = out.get(name)
            if isinstance(value, datetime) and isinstance(micros.get(name), int):
                value = value.replace(microsecond=(value.microsecond // 1000) * 1000 + micros[name])
            out[name] = _iso(value)
        return out

    async def upsert(self, kind: CatalogKind, org_id: str, doc: dict[str, Any]) -> dict[str, Any]:
        doc_id = doc.get("id") if isinstance(doc, dict) else None
        if not isinstance(doc_id, str) or not doc_id:
            raise ValueError(
                f"{CatalogKind(kind).value} document needs a non-empty string 'id', got {doc_id!r}"
            )
        if kind == CatalogKind.ORGANIZATIONS:
            org_id = doc_id
        collection = self._collection(kind)
        key = {"orgId": org_id, "id": doc_id}
        body: Doc = escape_keys({k: copy.deepcopy(v) for k, v in doc.items() if k not in _MANAGED})

        async def write() -> Doc:
            now = datetime.now(UTC)
            existing = await collection.find_one(key, {"createdAt": 1, "_us": 1})
            created = existing.get("createdAt") if existing else None
            micros = (existing.get("_us") or {}) if existing else {}
            stored: Doc = {**body, "orgId": org_id, "createdAt": created or now, "updatedAt": now}
            us = {
                "createdAt": micros.get("createdAt") if created else micro_remainders(now),
                "updatedAt": micro_remainders(now),
            }
            us = {k: v for k, v in us.items() if v is not None}
            if us:
                stored["_us"] = us
            try:
                await collection.replace_one(key, stored, upsert=True)
            except DuplicateKeyError:
                # a concurrent upsert inserted it first; replace that one
                await collection.replace_one(key, stored)
            return stored

        stored = await once_more(f"upsert {collection.name}", self._where, write)
        return self._out(stored)

    async def get(
        self, kind: CatalogKind, org_id: str | None, doc_id: str
    ) -> dict[str, Any] | None:
        collection = self._collection(kind)
        in_org: Doc = {} if org_id is None else {"orgId": _org_filter(org_id)}
        oid = _object_id(doc_id)
        by_oid: Doc | None = None
        if oid is not None:
            # An organization another tool wrote has no orgId: its _id is the org id.
            own_org = kind == CatalogKind.ORGANIZATIONS and org_id in (None, doc_id)
            by_oid = {"_id": oid} if own_org else {"_id": oid, **in_org}

        async def read() -> Doc | None:
            # A document's own id wins over another document's _id of the same spelling.
            query: Doc = {"id": doc_id, **in_org}
            docs = await collection.find(query).sort([("createdAt", ASCENDING)]).limit(1).to_list()
            if not docs and by_oid is not None:
                docs = await collection.find(by_oid).limit(1).to_list()
            return docs[0] if docs else None

        found = await once_more(f"get {collection.name}", self._where, read)
        return None if found is None else self._out(found)

    async def list(
        self, kind: CatalogKind, org_id: str | None, *, limit: int = 500
    ) -> list[dict[str, Any]]:
        if limit < 1:
            return []
        collection = self._collection(kind)

        async def read() -> list[Doc]:
            # None matches a missing orgId too: the documents of no organization.
            query = {"orgId": None if org_id is None else _org_filter(org_id)}
            cursor = collection.find(query).sort([("id", ASCENDING)]).limit(limit)
            return await cursor.to_list()

        docs = await once_more(f"list {collection.name}", self._where, read)
        # Documents without an id of their own (sorted first by the server) take their _id's.
        return sorted((self._out(doc) for doc in docs), key=lambda d: str(d["id"]))

    async def delete(self, kind: CatalogKind, org_id: str, doc_id: str) -> bool:
        collection = self._collection(kind)
        if kind == CatalogKind.ORGANIZATIONS and org_id != doc_id:
            return False
        in_org: Doc = {"orgId": _org_filter(org_id)}
        if kind == CatalogKind.ORGANIZATIONS:
            in_org = {}  # the org id is the document's own id; other tools write no orgId
        oid = _object_id(doc_id)

        async def remove() -> bool:
            result = await collection.delete_one({"id": doc_id, **in_org})
            if result.deleted_count == 0 and oid is not None:
                result = await collection.delete_one({"_id": oid, **in_org})
            return result.deleted_count == 1

        return await once_more(f"delete {collection.name}", self._where, remove)
