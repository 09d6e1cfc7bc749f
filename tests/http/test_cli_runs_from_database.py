"""``lamdis runs list/show`` without ``--server`` read the database named by ``DATABASE_URL`` /
``MONGO_URL``, as ``lamdis wait`` does, and print what the hosted API answers for the same
runs (webhook credentials redacted alike)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest
from aiohttp.test_utils import TestClient, TestServer
from lamdis_core.domain.results import Run
from lamdis_http.app import STORE_KEY
from lamdis_http.bootstrap import Settings, build_app

CLI = [sys.executable, "-m", "lamdis_http.cli"]


async def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LAMDIS_", "DB_"))}
    clean.pop("DATABASE_URL", None)
    clean.pop("MONGO_URL", None)
    return await asyncio.to_thread(
        subprocess.run,
        [*CLI, "runs", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


async def _check(env: dict[str, str]) -> None:
    app = build_app(Settings.from_env(env), start_worker=False)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        store = app[STORE_KEY]
        first = await store.create_run(Run(org_id="acme", suite_id="smoke"))
        hooked = await store.create_run(
            Run(
                org_id="acme",
                suite_id="other",
                webhook_url="https://user:pw@hooks.example/x?token=abc",
            )
        )
        api_list = await (await client.get("/internal/runs", params={"limit": "5"})).json()
        api_run = await (await client.get(f"/internal/runs/{hooked.id}")).json()
    finally:
        await client.close()

    listed = await _cli(env, "list", "--json", "--limit", "5")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == api_list
    assert [r["id"] for r in api_list["runs"]] == [hooked.id, first.id]
    shown = await _cli(env, "show", hooked.id, "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == api_run
    assert "pw" not in shown.stdout and "abc" not in shown.stdout
    table = await _cli(env, "list", "--suite", "smoke")
    assert table.returncode == 0 and first.id in table.stdout and hooked.id not in table.stdout
    unknown = await _cli(env, "show", "0123456789abcdef01234567")
    assert unknown.returncode == 2 and "not found in the database" in unknown.stderr
    bad_limit = await _cli(env, "list", "--limit", "500")
    assert bad_limit.returncode == 2 and "limit" in bad_limit.stderr


@pytest.mark.postgres
async def test_runs_commands_read_postgres_from_database_url(postgres_dsn: str) -> None:
    await _check({"DATABASE_URL": postgres_dsn})


@pytest.mark.mongo
async def test_runs_commands_read_mongo_from_mongo_url(mongo_url: str) -> None:
    await _check({"MONGO_URL": mongo_url})
