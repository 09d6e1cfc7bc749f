"""Catalog documents other tools wrote (the seed's own service: ObjectId ``_id``s, ObjectId
references, no ``id`` field) are found by the hex string of their ``_id``."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from lamdis_core.ports.catalog import CatalogKind
from lamdis_store_mongo import open_store
from pymongo import AsyncMongoClient


async def test_documents_are_found_by_the_hex_of_their_object_id(mongo_url: str) -> None:
    store, catalog = await open_store({"MONGO_URL": mongo_url})
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, tz_aware=True)
    try:
        db = client.get_default_database()
        org, suite, env = ObjectId(), ObjectId(), ObjectId()
        await db.organizations.insert_one({"_id": org, "name": "Acme"})
        await db.testsuites.insert_one({"_id": suite, "orgId": org, "name": "Smoke"})
        await db.environments.insert_one(
            {"_id": env, "orgId": org, "channel": "http_chat", "baseUrl": "http://a.invalid"}
        )
        own = await catalog.upsert(CatalogKind.SUITES, str(org), {"id": "zeta", "name": "Own"})

        found = await catalog.get(CatalogKind.SUITES, None, str(suite))
        assert found is not None
        assert (found["id"], found["orgId"], found["name"]) == (str(suite), str(org), "Smoke")
        # with the org named either way, and not from another organization
        assert await catalog.get(CatalogKind.SUITES, str(org), str(suite)) == found
        assert await catalog.get(CatalogKind.SUITES, "other", str(suite)) is None
        assert await catalog.get(CatalogKind.ENVIRONMENTS, str(org), str(env)) is not None
        organization = await catalog.get(CatalogKind.ORGANIZATIONS, None, str(org))
        assert organization is not None and organization["id"] == str(org)
        # a lamdis document stays found by its own id, and by its _id too
        assert (await catalog.get(CatalogKind.SUITES, str(org), "zeta")) == own
        raw = await db.testsuites.find_one({"id": "zeta"})
        assert raw is not None
        by_oid = await catalog.get(CatalogKind.SUITES, str(org), str(raw["_id"]))
        assert by_oid is not None and by_oid["id"] == "zeta"
        # an unknown ObjectId and a malformed one are simply unknown
        assert await catalog.get(CatalogKind.SUITES, None, str(ObjectId())) is None
        assert await catalog.get(CatalogKind.SUITES, None, "z" * 24) is None

        listed = await catalog.list(CatalogKind.SUITES, str(org))
        assert [d["id"] for d in listed] == sorted([str(suite), "zeta"])

        assert await catalog.delete(CatalogKind.SUITES, str(org), str(suite)) is True
        assert await catalog.get(CatalogKind.SUITES, None, str(suite)) is None
        assert await catalog.delete(CatalogKind.SUITES, str(org), str(suite)) is False
    finally:
        await client.close()
        await store.aclose()
