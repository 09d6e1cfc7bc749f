"""Seed conformance on MongoDB: a run is started by the ObjectId ``_id``s of catalog documents
another tool wrote (no ``id`` field, ObjectId references), through the real HTTP API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from lamdis_http.bootstrap import Settings, build_app
from pymongo import AsyncMongoClient

from tests.http._helpers import start, wait_status


def _test(name: str, message: str, expect: str, suite: ObjectId, org: ObjectId) -> dict[str, Any]:
    return {
        "_id": ObjectId(),
        "orgId": org,
        "suiteId": suite,
        "name": name,
        "steps": [
            {"type": "message", "role": "user", "content": message},
            {"type": "includes", "includes": [expect]},
        ],
    }


@pytest.mark.mongo
async def test_start_by_object_ids_of_documents_without_id(
    aiohttp_client: Any, mongo_url: str, demo_url: str, tmp_path: Path
) -> None:
    org, suite, env = ObjectId(), ObjectId(), ObjectId()
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
    try:
        db = mongo.get_default_database()
        await db.organizations.insert_one({"_id": org, "name": "Acme"})
        # the seed stores environments flat, and tests as documents naming their suite
        await db.environments.insert_one(
            {"_id": env, "orgId": org, "name": "demo", "channel": "http_chat", "baseUrl": demo_url}
        )
        await db.testsuites.insert_one(
            {"_id": suite, "orgId": org, "name": "Smoke", "defaultEnvId": env}
        )
        await db.tests.insert_many(
            [
                _test("greets", "hello there", "hello", suite, org),
                _test("risk", "I want to put everything in one risky stock", "risk", suite, org),
            ]
        )
    finally:
        await mongo.close()

    settings = Settings.from_env({"MONGO_URL": mongo_url, "LAMDIS_CONFIG_DIR": str(tmp_path)})
    client = await aiohttp_client(build_app(settings, poll_seconds=0.05))

    with_env = await start(client, {"suiteId": str(suite), "envId": str(env)})
    by_default = await start(client, {"suiteId": str(suite)})
    for run_id in (with_env, by_default):
        run = await wait_status(client, run_id, within=30)
        assert run["status"] == "passed", run
        assert run["totals"]["passed"] == 2
        assert (run["suiteId"], run["orgId"]) == (str(suite), str(org))

    unknown = await client.post(
        "/internal/runs/start", json={"suiteId": str(suite), "envId": str(ObjectId())}
    )
    assert unknown.status == 404
    assert (await unknown.json())["field"] == "envId"


@pytest.mark.mongo
async def test_documents_of_no_organization_start_and_run(
    aiohttp_client: Any, mongo_url: str, demo_url: str, tmp_path: Path
) -> None:
    """Documents another tool wrote without ``orgId``: a start that names no organization
    runs the suite in no organization, its tests found by their ``suiteId``."""
    suite, env = ObjectId(), ObjectId()
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
    try:
        db = mongo.get_default_database()
        await db.environments.insert_one(
            {"_id": env, "name": "demo", "channel": "http_chat", "baseUrl": demo_url}
        )
        await db.testsuites.insert_one({"_id": suite, "name": "Smoke", "defaultEnvId": env})
        tests = [
            _test("greets", "hello there", "hello", suite, ObjectId()),
            _test("risk", "I want to put everything in one risky stock", "risk", suite, ObjectId()),
        ]
        for test in tests:
            del test["orgId"]
        await db.tests.insert_many(tests)
    finally:
        await mongo.close()

    settings = Settings.from_env({"MONGO_URL": mongo_url, "LAMDIS_CONFIG_DIR": str(tmp_path)})
    client = await aiohttp_client(build_app(settings, poll_seconds=0.05))

    for body in ({"suiteId": str(suite), "envId": str(env)}, {"suiteId": str(suite)}):
        run = await wait_status(client, await start(client, body), within=30)
        assert run["status"] == "passed", run
        assert run["totals"]["passed"] == 2
        assert run["suiteId"] == str(suite) and run.get("orgId") is None

    elsewhere = await client.post(
        "/internal/runs/start", json={"suiteId": str(suite), "orgId": "acme"}
    )
    assert elsewhere.status == 404
    assert (await elsewhere.json())["field"] == "suiteId"
