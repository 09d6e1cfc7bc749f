"""Consistent instances: auth configs live in the catalog, so two servers on one database with
different config dirs and the same environment run a suite alike; the auth documents hold the
``${NAME}`` references, resolved by each server from its own environment."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from lamdis_core.ports.catalog import CatalogKind
from lamdis_core.service import import_config_tree
from lamdis_http.app import CATALOG_KEY
from lamdis_http.bootstrap import Settings, build_app

from tests.fixtures.servers import serve_loopback
from tests.http._helpers import start, wait_status

ORG = "acme"
TOKEN = "s3cret-bot-token"


def _write(root: Path, relative: str, data: Any) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


def _auth(reference: str) -> dict[str, Any]:
    return {
        "id": "auth/bot",
        "env": {"AUTH_TOKEN": reference},
        "pattern": {
            "type": "bearer",
            "header": "Authorization",
            "template": "Bearer ${AUTH_TOKEN}",
        },
    }


def _tree(root: Path, bot_url: str) -> Path:
    _write(
        root,
        "assistants/bot.json",
        {
            "id": "bot",
            "env": {"channel": "http_chat", "baseUrl": bot_url},
            "auth": {"authRef": "auth/bot"},
        },
    )
    _write(root, "auth/bot.json", _auth("${BOT_TOKEN}"))
    _write(
        root,
        "tests/t.json",
        {
            "id": "t",
            "assistantRef": "assistants/bot",
            "tests": [
                {
                    "id": "greets",
                    "steps": [
                        {"type": "message", "role": "user", "content": "hi"},
                        {"type": "includes", "includes": ["authorised"]},
                    ],
                }
            ],
        },
    )
    _write(
        root,
        "suites/s.json",
        {
            "id": "s",
            "assistants": {"include": ["assistants/bot"]},
            "tests": {"includeFiles": ["tests/t.json"]},
        },
    )
    return root


@pytest.fixture
async def bot_url() -> AsyncIterator[str]:
    """A bot that answers only requests bearing ``TOKEN``."""

    async def chat(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"error": "unauthorised"}, status=401)
        return web.json_response({"reply": "hello, you are authorised"})

    app = web.Application()
    app.router.add_post("/chat", chat)
    async with serve_loopback(app) as url:
        yield url


async def _run_suite(env: dict[str, str]) -> dict[str, Any]:
    app = build_app(Settings.from_env(env), poll_seconds=0.05)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        run = await wait_status(client, await start(client, {"suiteId": "s"}), within=30)
        return {k: run[k] for k in ("status", "totals", "error") if k in run} | {
            "items": [(i["testId"], i["status"], i.get("error")) for i in run["items"]]
        }
    finally:
        await client.close()


@pytest.mark.postgres
async def test_two_instances_with_different_config_dirs_give_the_same_result(
    postgres_dsn: str, bot_url: str, tmp_path: Path
) -> None:
    imported = _tree(tmp_path / "a", bot_url)
    # The other instance's config dir holds a different auth file under the same path (and
    # nothing else): it must not be read for catalog runs.
    other = tmp_path / "b"
    _write(other, "auth/bot.json", _auth("${OTHER_TOKEN}"))
    shared = {
        "DATABASE_URL": postgres_dsn,
        "BOT_TOKEN": TOKEN,
        "OTHER_TOKEN": "wrong",
        "LAMDIS_SECRET_HOSTS": "BOT_TOKEN=127.0.0.1;OTHER_TOKEN=127.0.0.1",
    }
    loader = build_app(Settings.from_env({**shared, "LAMDIS_CONFIG_DIR": str(imported)}))
    client = TestClient(TestServer(loader))
    await client.start_server()
    try:
        counts = await import_config_tree(loader[CATALOG_KEY], imported, org_id=ORG, env=shared)
        stored = await loader[CATALOG_KEY].get(CatalogKind.AUTH, ORG, "auth/bot")
    finally:
        await client.close()
    assert counts["auth"] == 1
    # stored as written: the reference, never the value
    assert stored is not None and stored["env"] == {"AUTH_TOKEN": "${BOT_TOKEN}"}
    assert TOKEN not in json.dumps(stored)

    first = await _run_suite({**shared, "LAMDIS_CONFIG_DIR": str(imported)})
    second = await _run_suite({**shared, "LAMDIS_CONFIG_DIR": str(other)})
    assert first["status"] == "passed", first
    assert second == first

    # A server whose environment lacks the variable fails the run naming it.
    missing = {k: v for k, v in shared.items() if k != "BOT_TOKEN"}
    third = await _run_suite({**missing, "LAMDIS_CONFIG_DIR": str(imported)})
    assert third["status"] != "passed"
    assert "BOT_TOKEN" in json.dumps(third), third
