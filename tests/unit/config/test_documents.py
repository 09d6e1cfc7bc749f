"""Hosted mode: plans from catalog documents through CatalogDocuments over the in-memory catalog."""

from __future__ import annotations

import json
from typing import Any

import pytest
from lamdis_core.config.loader import CatalogDocuments, plan_from_documents
from lamdis_core.domain import config as c
from lamdis_core.domain.errors import ConfigError
from lamdis_core.ports.catalog import CatalogKind
from lamdis_core.testing import InMemoryCatalog

from tests.unit.config.conftest import LAMDIS_RUNS_CONFIGS, PERSONAS, REQUESTS

ORG = "org-1"


async def catalog_with(docs: dict[CatalogKind, list[dict[str, Any]]]) -> InMemoryCatalog:
    catalog = InMemoryCatalog()
    for kind, items in docs.items():
        for doc in items:
            await catalog.upsert(kind, ORG, doc)
    return catalog


ENV_DOC = {"id": "env-dev", "env": {"channel": "http_chat", "baseUrl": "http://127.0.0.1:9"}}
SEED_ENV_DOC = {
    "id": "env-seed",
    "channel": "http_chat",
    "baseUrl": "http://127.0.0.1:8",
    "timeoutMs": 500,
}
TEST_FILE_DOC = {
    "id": "file-1",
    "imports": {"personas": ["retail"], "requests": ["accounts"]},
    "tests": [
        {
            "id": "t1",
            "personaId": "p1",
            "steps": [
                {"type": "request", "requestId": "accounts.get"},
                {"type": "message", "content": "hi"},
            ],
        },
        {"id": "t2", "objective": "open an account"},
    ],
}


async def test_suite_with_includes_and_env_id() -> None:
    catalog = await catalog_with(
        {
            CatalogKind.ENVIRONMENTS: [ENV_DOC, SEED_ENV_DOC],
            CatalogKind.TESTS: [TEST_FILE_DOC],
            CatalogKind.PERSONAS: [{"id": "retail", **PERSONAS}],
            CatalogKind.REQUESTS: [{"id": "accounts", **REQUESTS}],
        }
    )
    suite = await catalog.upsert(
        CatalogKind.SUITES,
        ORG,
        {
            "id": "s1",
            "assistants": {"include": ["env-dev", "env-seed"]},
            "tests": {"includeIds": ["t1", "file-1"]},
        },
    )
    source = CatalogDocuments(catalog, ORG)

    plan = await plan_from_documents(suite, source, env={})
    assert [e.key for e in plan.entries] == [
        "t1@env-dev",
        "t1@env-seed",
        "t2@env-dev",
        "t2@env-seed",
    ]
    seed = plan.entries[1].assistant
    assert (seed.env.base_url, seed.env.timeout_ms) == ("http://127.0.0.1:8", 500)
    assert set(plan.entries[0].personas) == {"p1"}
    assert set(plan.entries[0].requests) == {"accounts.get"}
    assert plan.suite_id == "s1"
    assert plan.warnings == []

    only_seed = await plan_from_documents(suite, source, env_id="env-seed", env={})
    assert [e.key for e in only_seed.entries] == ["t1@env-seed", "t2@env-seed"]


async def test_seed_layout_tests_by_suite_id_and_direct_persona_lookup() -> None:
    catalog = await catalog_with(
        {
            CatalogKind.ENVIRONMENTS: [SEED_ENV_DOC],
            CatalogKind.TESTS: [
                {
                    "id": "one",
                    "suiteId": "s1",
                    "name": "One",
                    "personaId": "p9",
                    "script": {"messages": [{"role": "user", "content": "hi"}]},
                },
                {"id": "other", "suiteId": "s2", "objective": "x"},
            ],
            CatalogKind.PERSONAS: [{"id": "p9", "description": "a cautious saver"}],
        }
    )
    suite = await catalog.upsert(
        CatalogKind.SUITES, ORG, {"id": "s1", "name": "Suite", "defaultEnvId": "env-seed"}
    )

    plan = await plan_from_documents(suite, CatalogDocuments(catalog, ORG), env={})

    assert [e.key for e in plan.entries] == ["one@env-seed"]
    assert plan.entries[0].test.name == "One"
    assert plan.entries[0].personas["p9"].description == "a cautious saver"


async def test_missing_documents_are_config_errors_listing_every_problem() -> None:
    catalog = await catalog_with(
        {
            CatalogKind.TESTS: [
                {"id": "file-1", "tests": [{"id": "t1", "steps": [{"type": "bogus"}]}]}
            ]
        }
    )
    suite = {
        "id": "s1",
        "assistants": {"include": ["env-missing"]},
        "tests": {"includeFiles": ["file-1", "file-2"]},
    }

    with pytest.raises(ConfigError) as info:
        await plan_from_documents(suite, CatalogDocuments(catalog, ORG), env={})

    found = {(p.file, p.json_path): p.message for p in info.value.problems}
    assert (
        found[("catalog:suites/s1", "$.assistants.include[0]")]
        == "environment 'env-missing' not found"
    )
    assert found[("catalog:suites/s1", "$.tests.includeFiles[1]")] == "test 'file-2' not found"
    assert (
        "unknown step type 'bogus'" in found[("catalog:tests/file-1", "$.tests[0].steps[0].type")]
    )


async def test_auth_refs_come_from_the_given_auth_documents() -> None:
    env_doc = {**ENV_DOC, "authRef": "dev1"}
    catalog = await catalog_with(
        {
            CatalogKind.ENVIRONMENTS: [env_doc],
            CatalogKind.TESTS: [
                TEST_FILE_DOC | {"imports": {}, "tests": [{"id": "t2", "objective": "x"}]}
            ],
        }
    )
    suite = {
        "id": "s1",
        "assistants": {"include": ["env-dev"]},
        "tests": {"includeFiles": ["file-1"]},
    }
    auth = {
        "env": {"TOKEN": "${DEV_TOKEN}"},
        "pattern": {"type": "bearer", "header": "Authorization", "template": "Bearer ${TOKEN}"},
    }

    with pytest.raises(ConfigError) as info:
        await plan_from_documents(suite, CatalogDocuments(catalog, ORG), env={})
    assert "authRef 'dev1' not found" in info.value.problems[0].message

    plan = await plan_from_documents(
        suite, CatalogDocuments(catalog, ORG, auths={"dev1": auth}), env={}
    )
    assert isinstance(plan.entries[0].auths["dev1"], c.PatternAuth)
    assert [w.message.split(" is ")[0] for w in plan.warnings] == ["environment variable DEV_TOKEN"]


@pytest.mark.skipif(
    not LAMDIS_RUNS_CONFIGS.is_dir(),
    reason="the lamdis-runs example tree is not beside the checkout",
)
async def test_lamdis_runs_files_stored_as_documents_plan_like_the_files() -> None:
    root = LAMDIS_RUNS_CONFIGS
    load = lambda rel: json.loads((root / rel).read_text())  # noqa: E731
    test_doc = load("tests/finra-checks/p1-tests.json")
    test_doc["imports"] = {"personas": ["retail"], "requests": ["accounts"]}
    catalog = await catalog_with(
        {
            CatalogKind.ENVIRONMENTS: [load("assistants/dev/v1.json")],
            CatalogKind.TESTS: [test_doc],
            CatalogKind.PERSONAS: [{"id": "retail", **load("personas/retail.json")}],
            CatalogKind.REQUESTS: [{"id": "accounts", **load("requests/accounts.json")}],
        }
    )
    suite = load("suites/legal-tests.json")
    suite["assistants"] = {"include": ["assistants/dev/v1"]}
    suite["tests"] = {"includeIds": ["finra-suitability-p1"]}
    source = CatalogDocuments(catalog, ORG, auths={"auth/dev1": load("auth/dev1.json")})

    plan = await plan_from_documents(suite, source, env={})

    assert [e.key for e in plan.entries] == ["finra-suitability-basic@assistants/dev/v1"]
    assert len(plan.warnings) == 2


async def test_test_ids_keep_only_the_named_tests() -> None:
    catalog = await catalog_with(
        {
            CatalogKind.ENVIRONMENTS: [ENV_DOC],
            CatalogKind.TESTS: [TEST_FILE_DOC],
            CatalogKind.PERSONAS: [{"id": "retail", **PERSONAS}],
            CatalogKind.REQUESTS: [{"id": "accounts", **REQUESTS}],
        }
    )
    suite = {
        "id": "s1",
        "assistants": {"include": ["env-dev"]},
        "tests": {"includeFiles": ["file-1"]},
    }
    plan = await plan_from_documents(suite, CatalogDocuments(catalog, ORG), test_ids=["t2"], env={})
    assert [e.key for e in plan.entries] == ["t2@env-dev"]


async def test_seed_test_documents_keep_their_tags_for_selection() -> None:
    catalog = await catalog_with(
        {
            CatalogKind.ENVIRONMENTS: [SEED_ENV_DOC],
            CatalogKind.TESTS: [
                {"id": "a", "suiteId": "s1", "tags": ["smoke"], "objective": "x"},
                {"id": "b", "suiteId": "s1", "objective": "y"},
            ],
        }
    )
    suite = {"id": "s1", "defaultEnvId": "env-seed"}
    plan = await plan_from_documents(suite, CatalogDocuments(catalog, ORG), tags=["smoke"], env={})
    assert [e.key for e in plan.entries] == ["a@env-seed"]
