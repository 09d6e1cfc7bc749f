"""The hosted API composed by ``build_app`` from settings alone, on PostgreSQL and on MongoDB
(FerretDB): the store is opened by the registry, as ``lamdis serve`` does."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from lamdis_core.service import import_config_tree
from lamdis_http.app import CATALOG_KEY, STORE_NAME_KEY
from lamdis_http.bootstrap import Settings, build_app

from tests.http._helpers import start, wait_status
from tests.http.conftest import ORG


async def _exercise(
    aiohttp_client: Any, settings: Settings, config_dir: Path, provider: str
) -> None:
    app = build_app(settings, poll_seconds=0.05)
    client = await aiohttp_client(app)
    assert app[STORE_NAME_KEY] == provider
    await import_config_tree(app[CATALOG_KEY], config_dir, org_id=ORG)
    health = await (await client.get("/health")).json()
    assert health["store"] == provider

    passed_id = await start(client, {"suiteId": "smoke", "gitContext": {"sha": "abc"}})
    failed_id = await start(client, {"suiteId": "mixed"})
    passed = await wait_status(client, passed_id, within=30)
    failed = await wait_status(client, failed_id, within=30)
    assert passed["status"] == "passed" and passed["totals"]["passed"] == 2
    assert passed["gitContext"] == {"sha": "abc"} and len(passed["items"]) == 2
    assert failed["status"] == "failed" and failed["totals"]["failed"] == 1

    slow_id = await start(client, {"suiteId": "slow"})
    await wait_status(client, slow_id, {"running"}, within=30)
    await asyncio.sleep(0.3)
    assert (await client.post(f"/internal/runs/{slow_id}/stop")).status == 200
    stopped = await wait_status(client, slow_id, within=20)
    assert stopped["status"] == "stopped" and stopped["totals"]["skipped"] >= 1
    assert len(stopped["items"]) == 6

    listed = await (await client.get("/internal/runs", params={"status": "failed"})).json()
    assert [r["id"] for r in listed["runs"]] == [failed_id]
    unknown = await client.get("/internal/runs/0123456789abcdef01234567")
    assert unknown.status == 404


@pytest.mark.postgres
async def test_lifecycle_on_postgres(
    aiohttp_client: Any, postgres_dsn: str, config_dir: Path
) -> None:
    settings = Settings.from_env(
        {"DATABASE_URL": postgres_dsn, "LAMDIS_CONFIG_DIR": str(config_dir)}
    )
    await _exercise(aiohttp_client, settings, config_dir, "postgres")


@pytest.mark.mongo
async def test_lifecycle_on_mongo(aiohttp_client: Any, mongo_url: str, config_dir: Path) -> None:
    settings = Settings.from_env({"MONGO_URL": mongo_url, "LAMDIS_CONFIG_DIR": str(config_dir)})
    await _exercise(aiohttp_client, settings, config_dir, "mongo")
