"""What the API refuses at the door, and reading back what is stored (issue 16 items 2, 6, 7;
issue 9 item 10): every bad request is a 4xx problem naming where, never a 500, and no stored
run can break reading or listing runs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from lamdis_core.domain.results import Run, RunStatus, Trigger
from lamdis_http._auth import signature
from lamdis_http.app import STORE_KEY
from lamdis_http.bootstrap import Settings, build_app

from tests.http._helpers import start
from tests.http.conftest import ORG, SECRET, TOKEN, MakeService, Service


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"sha": "abc"}
    for _ in range(depth):
        value = {"a": value}
    return value


async def _problem(resp: Any, status: int = 400) -> dict[str, Any]:
    text = await resp.text()
    assert resp.status == status, text
    assert resp.content_type == "application/problem+json"
    body: dict[str, Any] = json.loads(text)
    assert body["status"] == status
    return body


async def _post_raw(client: TestClient, path: str, raw: bytes) -> Any:
    return await client.post(path, data=raw, headers={"content-type": "application/json"})


# --- free-form fields (16.2) -----------------------------------------------------------------


async def test_a_deeply_nested_git_context_is_refused_naming_the_field(service: Service) -> None:
    resp = await service.client.post(
        "/internal/runs/start", json={"suiteId": "smoke", "gitContext": _nested(500)}
    )
    body = await _problem(resp)
    assert body["field"] == "gitContext"
    assert "deeper than 32 levels" in body["detail"]
    # 32 levels are fine.
    await start(service.client, {"suiteId": "smoke", "gitContext": _nested(31)})


async def test_a_large_git_context_is_refused_naming_the_field(service: Service) -> None:
    big = {"notes": "x" * (17 * 1024)}
    body = await _problem(
        await service.client.post(
            "/internal/runs/start", json={"suiteId": "smoke", "gitContext": big}
        )
    )
    assert body["field"] == "gitContext" and "16 KiB" in body["detail"]
    body = await _problem(
        await service.client.post(
            "/internal/run-file", json={"filePath": "tests/x.json", "gitContext": big}
        )
    )
    assert body["field"] == "gitContext"


async def _damaged_run_is_shown(client: TestClient, store: Any) -> None:
    """Content stored before the door checked it (500 levels, as in the report): the run is
    shown with a note, the list goes on."""
    good = await start(client, {"suiteId": "smoke", "gitContext": {"sha": "abc"}})
    damaged = await store.create_run(
        Run(
            org_id=ORG,
            suite_id="smoke",
            trigger=Trigger.CI,
            git_context=_nested(500),
            status=RunStatus.QUEUED,
        )
    )
    resp = await client.get("/internal/runs")
    assert resp.status == 200, await resp.text()
    runs = {r["id"]: r for r in (await resp.json())["runs"]}
    assert runs[good]["gitContext"] == {"sha": "abc"}
    assert "cannot be shown in full" in runs[damaged.id]["unreadable"]
    assert runs[damaged.id]["status"] == "queued"
    resp = await client.get(f"/internal/runs/{damaged.id}")
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["unreadable"]


@pytest.mark.postgres
async def test_free_form_fields_and_damaged_runs_on_postgres(
    aiohttp_client: Any, postgres_dsn: str, config_dir: Path
) -> None:
    settings = Settings.from_env(
        {"DATABASE_URL": postgres_dsn, "LAMDIS_CONFIG_DIR": str(config_dir)}
    )
    app = build_app(settings, start_worker=False)
    client = await aiohttp_client(app)
    from lamdis_core.service import import_config_tree
    from lamdis_http.app import CATALOG_KEY

    await import_config_tree(app[CATALOG_KEY], config_dir, org_id=ORG)
    body = await _problem(
        await client.post(
            "/internal/runs/start", json={"suiteId": "smoke", "gitContext": _nested(500)}
        )
    )
    assert body["field"] == "gitContext"
    await _damaged_run_is_shown(client, app[STORE_KEY])
    # A NUL in a catalog id or an org id is refused before PostgreSQL sees it.
    body = await _problem(await client.get(f"/orgs/{ORG}/tests/ab%00cd"))
    assert body["field"] == "docId" and "NUL" in body["detail"]
    body = await _problem(await client.get("/orgs/ac%00me/suites"))
    assert body["field"] == "orgId"
    body = await _problem(await client.get("/internal/runs", params={"suiteId": "a\x00b"}))
    assert body["field"] == "suiteId"
    body = await _problem(
        await client.post(f"/orgs/{ORG}/personas", json={"id": "p\x00", "description": "d"})
    )
    assert body["field"] == "id"
    # PostgreSQL would have dropped or replaced these: refused instead, nothing stored.
    for bad in ('{"id": "p1", "description": "\\ud83d"}', '{"id": "p1", "description": NaN}'):
        await _problem(await _post_raw(client, f"/orgs/{ORG}/personas", bad.encode()))
    assert (await client.get(f"/orgs/{ORG}/personas/p1")).status == 404


# --- 500s that become 4xx (16.6, 9.10) --------------------------------------------------------


async def test_json_nested_100k_deep_is_a_400(service: Service) -> None:
    raw = b'{"suiteId": "smoke", "gitContext": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    body = await _problem(await _post_raw(service.client, "/internal/runs/start", raw))
    assert "nested too deeply" in body["detail"]


async def test_an_integer_over_4300_digits_is_a_400_naming_the_field(service: Service) -> None:
    raw = b'{"suiteId": "smoke", "gitContext": {"n": ' + b"9" * 5000 + b"}}"
    body = await _problem(await _post_raw(service.client, "/internal/runs/start", raw))
    assert body["field"] == "gitContext.n" and "5000 digits" in body["detail"]


@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        ("/internal/run-file", {"filePath": "tests/a\x00.json"}, "filePath"),
        ("/internal/run-file", {"filePath": "t" * 300 + ".json"}, "filePath"),
        ("/internal/run-file", {"filePath": "t/" * 3000}, "filePath"),
        ("/internal/run-json-suites", {"suites": ["sm\x00oke"]}, "suites[0]"),
        ("/internal/run-json-suites", {"suites": ["s" * 300]}, "suites[0]"),
        ("/internal/run-json-suites", {"suites": ["s" * 5000]}, "suites"),
        ("/internal/runs/start", {"suiteId": "s" * 5000}, "suiteId"),
    ],
)
async def test_nul_bytes_and_overlong_names_are_4xx(
    service: Service, path: str, payload: dict[str, Any], field: str
) -> None:
    resp = await service.client.post(path, json=payload)
    text = await resp.text()
    assert 400 <= resp.status < 500, text
    body = json.loads(text)
    assert body["field"] == field, body


@pytest.mark.parametrize(
    "stamp", ["inf", "1e999", "-inf", "nan", "\u0661\u0667" + "\u0660" * 8, "0x10", " 12"]
)
async def test_a_malformed_timestamp_is_a_401_with_hmac_on(
    make_service: MakeService, stamp: str
) -> None:
    service = await make_service(token=TOKEN, secret=SECRET)
    headers = {"x-api-token": TOKEN, "x-timestamp": stamp, "x-signature": "00" * 32}
    resp = await service.client.get("/internal/runs", headers=headers)
    body = await _problem(resp, 401)
    assert "x-timestamp" in body["detail"]
    # A well-formed one still works.
    now = str(int(time.time()))
    good = {"x-api-token": TOKEN, "x-timestamp": now, "x-signature": signature(SECRET, now, b"")}
    assert (await service.client.get("/internal/runs", headers=good)).status == 200


# --- NaN, Infinity, NUL, lone surrogates (16.7) ----------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        (b'{"suiteId": "smoke", "gitContext": {"x": NaN}}', "gitContext.x", "NaN"),
        (b'{"suiteId": "smoke", "gitContext": {"x": -Infinity}}', "gitContext.x", "Infinity"),
        (b'{"suiteId": "smoke", "gitContext": {"x": 1e999}}', "gitContext.x", "range"),
        (b'{"suiteId": "smoke", "gitContext": {"x": "a\\u0000b"}}', "gitContext.x", "NUL"),
        (b'{"suiteId": "smoke", "gitContext": {"x": ["\\ud83d"]}}', "gitContext.x[0]", "surrogate"),
        (b'{"suiteId": "smoke", "gitContext": {"\\udc00": 1}}', "gitContext.\udc00", "surrogate"),
        (b'{"suiteId": "sm\\u0000oke"}', "suiteId", "NUL"),
    ],
)
async def test_values_that_cannot_be_stored_as_sent_are_refused_naming_the_field(
    service: Service, raw: bytes, field: str, words: str
) -> None:
    resp = await _post_raw(service.client, "/internal/runs/start", raw)
    body = await _problem(resp)
    assert words in body["detail"]
    assert body["errors"][0]["field"].startswith(field.split(".")[0])
    if "surrogate" not in field:
        assert body["field"] in (field, field.split(".")[0])
    listed = await (await service.client.get("/internal/runs")).json()
    assert listed["runs"] == []


async def test_responses_are_strict_json_even_when_a_result_holds_nan(service: Service) -> None:
    """A stored non-finite number (an engine result) is written as a string, never bare NaN."""
    store = service.app[STORE_KEY]
    run = await store.create_run(
        Run(
            org_id=ORG,
            suite_id="smoke",
            trigger=Trigger.CI,
            status=RunStatus.QUEUED,
            request={"kind": "suite", "score": float("nan"), "limit": float("inf")},
        )
    )
    resp = await service.client.get(f"/internal/runs/{run.id}")
    text = await resp.text()
    assert resp.status == 200
    parsed = json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in the response"))
    assert parsed["request"]["score"] == "NaN" and parsed["request"]["limit"] == "Infinity"
