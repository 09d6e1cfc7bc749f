"""``MongoCatalog``: the Catalog port on MongoDB, one collection per kind as the seed names them."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import structlog
from lamdis_core.ports.catalog import CatalogKind
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from lamdis_store_mongo._convert import micro_remainders
from lamdis_store_mongo._keys import escape_keys, unescape_keys
from lamdis_store_mongo._retry import once_more
from lamdis_store_mongo._schedule import MongoScheduleClaims

logger = structlog.get_logger()

Doc = dict[str, Any]

COLLECTIONS: dict[CatalogKind, str] = {
    CatalogKind.ORGANIZATIONS: "organizations",
    CatalogKind.SUITES: "testsuites",
    CatalogKind.TESTS: "tests",
    CatalogKind.ENVIRONMENTS: "environments",
    CatalogKind.PERSONAS: "personas",
    CatalogKind.REQUESTS: "requests",
}

# fields the catalog owns; a document's own copies are replaced
_MANAGED = ("_id", "orgId", "createdAt", "updatedAt", "_us")


def _iso(value: Any) -> Any:
    if not isinstance(value, datetime):
        return value
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.isoformat().replace("+00:00", "Z")


class MongoCatalog(MongoScheduleClaims):
    """Catalog on MongoDB: collections ``organizations, testsuites, tests, environments,
    personas, requests``; each document keeps its own ``id`` beside an ObjectId ``_id``, with
    ``orgId`` and BSON-date ``createdAt``/``updatedAt``. A unique index on ``(orgId, id)``
    keeps ids unique per kind and organization."""

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
        out: Doc = unescape_keys({k: v for k, v in doc.items() if k not in ("_id", "_us")})
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
        query: Doc = {"id": doc_id}
        if org_id is not None:
            query["orgId"] = org_id

        async def read() -> Doc | None:
            docs = await collection.find(query).sort([("createdAt", ASCENDING)]).limit(1).to_list()
            return docs[0] if docs else None

        found = await once_more(f"get {collection.name}", self._where, read)
        return None if found is None else self._out(found)

    async def list(
        self, kind: CatalogKind, org_id: str, *, limit: int = 500
    ) -> list[dict[str, Any]]:
        if limit < 1:
            return []
        collection = self._collection(kind)

        async def read() -> list[Doc]:
            cursor = collection.find({"orgId": org_id}).sort([("id", ASCENDING)]).limit(limit)
            return await cursor.to_list()

        docs = await once_more(f"list {collection.name}", self._where, read)
        return [self._out(doc) for doc in docs]

    async def delete(self, kind: CatalogKind, org_id: str, doc_id: str) -> bool:
        collection = self._collection(kind)
        if kind == CatalogKind.ORGANIZATIONS and org_id != doc_id:
            return False
        result = await once_more(
            f"delete {collection.name}",
            self._where,
            lambda: collection.delete_one({"orgId": org_id, "id": doc_id}),
        )
        return result.deleted_count == 1
