"""Hosted runs record the seed their data generators drew from (issue 14 item 4: "the seed
used is in every report"), and a start given that seed draws the same values again. On the
in-memory store and on PostgreSQL."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from lamdis_core.ports.store import RunFilter
from lamdis_core.service import import_config_tree
from lamdis_http.app import CATALOG_KEY
from lamdis_http.bootstrap import Settings, build_app

from tests.http._configs import write_config_tree
from tests.http._helpers import start, wait_status
from tests.http.conftest import ORG, Service

SUITE = "seeded"


def _add_seeded_suite(root: Path, suite_id: str) -> None:
    """A suite whose one test sends two generated values to the demo assistant."""
    test_doc = {
        "id": f"{suite_id}-tests",
        "assistantRef": "assistants/demo",
        "tests": [
            {
                "id": "sends-generated-values",
                "variables": [
                    {"key": "code", "value": "${randInt(9)}"},
                    {"key": "tag", "value": "${randStr(12)}"},
                ],
                "steps": [
                    {
                        "type": "message",
                        "role": "user",
                        "content": "hello, code ${var.code} tag ${var.tag}",
                    },
                    {"type": "includes", "includes": ["hello"]},
                ],
            }
        ],
    }
    suite = {
        "id": suite_id,
        "assistants": {"include": ["assistants/demo"]},
        "tests": {"includeFiles": [f"tests/{suite_id}.json"]},
    }
    (root / "tests" / f"{suite_id}.json").write_text(json.dumps(test_doc), encoding="utf-8")
    (root / "suites" / f"{suite_id}.json").write_text(json.dumps(suite), encoding="utf-8")


@pytest.fixture
def config_dir(tmp_path: Path, demo_url: str) -> Path:
    root = write_config_tree(tmp_path / "configs", demo_url)
    _add_seeded_suite(root, SUITE)
    return root


def _sent(run: dict[str, Any]) -> str:
    """The user message the run's one test sent (its generated values)."""
    [item] = run["items"]
    [message] = [e["content"] for e in item["transcript"] if e["role"] == "user"]
    assert re.fullmatch(r"hello, code [1-9][0-9]{8} tag \S{12}", message), message
    return str(message)


async def _seed_reproduces(client: TestClient, suite_id: str) -> None:
    first = await wait_status(client, await start(client, {"suiteId": suite_id}), within=30)
    assert first["status"] == "passed", first
    seed = first["seed"]
    assert isinstance(seed, int) and not isinstance(seed, bool), first
    again = await wait_status(
        client, await start(client, {"suiteId": suite_id, "seed": seed}), within=30
    )
    assert again["seed"] == seed
    assert _sent(again) == _sent(first)
    # another seed draws other values: the seed, not chance, made them equal
    other = await wait_status(
        client, await start(client, {"suiteId": suite_id, "seed": seed + 1}), within=30
    )
    assert other["seed"] == seed + 1
    assert _sent(other) != _sent(first)


async def test_a_hosted_run_shows_its_seed_and_a_start_with_it_repeats_the_values(
    service: Service,
) -> None:
    await _seed_reproduces(service.client, SUITE)


async def test_a_given_seed_is_on_the_run_from_its_start(make_service: Any) -> None:
    service = await make_service(start_worker=False)
    run_id = await start(service.client, {"suiteId": SUITE, "seed": 42})
    resp = await service.client.get(f"/internal/runs/{run_id}")
    assert (await resp.json())["seed"] == 42


@pytest.mark.parametrize("bad", ["7", 7.5, True, -1, 2**63, {"n": 1}])
async def test_a_seed_that_is_not_a_whole_number_in_range_is_a_400_naming_it(
    service: Service, bad: Any
) -> None:
    resp = await service.client.post("/internal/runs/start", json={"suiteId": SUITE, "seed": bad})
    assert resp.status == 400, await resp.text()
    problem = await resp.json()
    assert [e["field"] for e in problem["errors"]] == ["seed"], problem
    assert "integer" in problem["errors"][0]["message"]
    assert await service.store.list_runs(RunFilter()) == []  # nothing was queued


@pytest.mark.postgres
async def test_a_hosted_run_on_postgres_shows_its_seed(
    postgres_dsn: str, demo_url: str, tmp_path: Path
) -> None:
    suite_id = f"seeded-{uuid.uuid4().hex[:8]}"
    root = write_config_tree(tmp_path / "configs", demo_url)
    _add_seeded_suite(root, suite_id)
    env = {"DATABASE_URL": postgres_dsn, "LAMDIS_CONFIG_DIR": str(root)}
    app = build_app(Settings.from_env(env), poll_seconds=0.05)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        await import_config_tree(app[CATALOG_KEY], root, org_id=ORG, env=env)
        await _seed_reproduces(client, suite_id)
    finally:
        await client.close()
