"""Request validation, limits, the judge endpoint, the catalog CRUD and the OpenAPI document."""

from __future__ import annotations

import json

import pytest
from lamdis_http.app import MAX_BODY_BYTES
from lamdis_http.openapi import route_paths, spec
from lamdis_judge_openai import OpenAIJudge, OpenAISettings

from tests.adapters._llm_judge_behaviour import fast_policy
from tests.fakes._scripted import error
from tests.fakes.openai_server import FakeOpenAIServer
from tests.http._helpers import start, wait_status
from tests.http.conftest import ORG, MakeService, Service


async def _problem(resp, status: int) -> dict:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/problem+json"
    body = await resp.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


# --- start: validation and lookups ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "suiteId"),
        ({"suiteId": 42}, "suiteId"),
        ({"suiteId": ""}, "suiteId"),
        ({"suiteId": "smoke", "trigger": "nightly"}, "trigger"),
        ({"suiteId": "smoke", "gitContext": "abc"}, "gitContext"),
        ({"suiteId": "smoke", "webhookUrl": "ftp://x"}, "webhookUrl"),
        ({"suiteId": "smoke", "suiteID": "typo"}, "suiteID"),
        ({"suiteId": "smoke", "tests": "greets"}, "tests"),
    ],
)
async def test_start_rejects_bad_bodies_naming_the_field(
    service: Service, body: dict, field: str
) -> None:
    problem = await _problem(await service.client.post("/internal/runs/start", json=body), 400)
    assert problem["field"] == field
    assert any(e["field"] == field for e in problem["errors"])


async def test_start_rejects_non_json_and_non_object_bodies(service: Service) -> None:
    for raw in (b"not json", b"[1, 2]", b""):
        problem = await _problem(await service.client.post("/internal/runs/start", data=raw), 400)
        assert problem["field"] == "$"


async def test_start_of_an_unknown_suite_or_environment_is_404(service: Service) -> None:
    problem = await _problem(
        await service.client.post("/internal/runs/start", json={"suiteId": "nope"}), 404
    )
    assert problem["field"] == "suiteId"
    problem = await _problem(
        await service.client.post(
            "/internal/runs/start", json={"suiteId": "smoke", "envId": "nope"}
        ),
        404,
    )
    assert problem["field"] == "envId"
    problem = await _problem(
        await service.client.post(
            "/internal/runs/start", json={"suiteId": "smoke", "orgId": "other-org"}
        ),
        404,
    )


async def test_start_accepts_the_seeds_ci_body(service: Service) -> None:
    body = {
        "suiteId": "smoke",
        "envId": "demo",
        "trigger": "ci",
        "gitContext": {"repo": "owner/repo", "sha": "0123abc", "runId": "987"},
    }
    run_id = await start(service.client, body)
    run = await wait_status(service.client, run_id)
    assert run["status"] == "passed" and run["envId"] == "demo"


async def test_bodies_over_one_mib_are_413(service: Service) -> None:
    big = json.dumps({"suiteId": "smoke", "pad": "x" * (MAX_BODY_BYTES + 10)})
    await _problem(await service.client.post("/internal/runs/start", data=big), 413)
    await _problem(await service.client.put("/orgs/acme/tests/big", data=big), 413)


async def test_unknown_routes_and_methods_get_problem_bodies(service: Service) -> None:
    await _problem(await service.client.get("/internal/nothing"), 404)
    await _problem(await service.client.delete("/internal/runs"), 405)


# --- judge -------------------------------------------------------------------------------------


async def test_judge_answers_in_the_seeds_shape(service: Service) -> None:
    body = {
        "rubric": "Explain diversification and the risk of loss.",
        "threshold": 0.5,
        "transcript": [
            {"role": "user", "content": "Should I buy one stock?"},
            {
                "role": "assistant",
                "content": "Diversification spreads risk; any investment risks loss.",
            },
        ],
        "lastAssistant": "Diversification spreads risk; any investment risks loss.",
        "persona": "retail-us-low-literacy",
    }
    resp = await service.client.post(f"/orgs/{ORG}/judge", json=body)
    assert resp.status == 200
    verdict = await resp.json()
    assert verdict["pass"] is True
    assert verdict["threshold"] == 0.5
    assert 0.5 <= verdict["score"] <= 1
    assert isinstance(verdict["reasoning"], str) and verdict["reasoning"]


async def test_judge_fails_a_reply_that_misses_the_rubric(service: Service) -> None:
    body = {
        "rubric": "Mentions diversification and regulatory disclosure",
        "threshold": 0.8,
        "lastAssistant": "Sure thing!",
    }
    verdict = await (await service.client.post(f"/orgs/{ORG}/judge", json=body)).json()
    assert verdict["pass"] is False and verdict["score"] < 0.8
    assert verdict["shouldContinue"] is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"threshold": 0.5, "lastAssistant": "x"}, "rubric"),
        ({"rubric": "r", "threshold": 2, "lastAssistant": "x"}, "threshold"),
        ({"rubric": "r", "transcript": [{"role": "user"}], "lastAssistant": "x"}, "transcript"),
        ({"rubric": "r", "scope": "all", "lastAssistant": "x"}, "scope"),
        ({"rubric": "r", "transcript": [{"role": "user", "content": "hi"}]}, "transcript"),
        ({"rubric": "r", "lastAssistant": "x", "extra": 1}, "extra"),
    ],
)
async def test_judge_rejects_bad_bodies(service: Service, body: dict, field: str) -> None:
    problem = await _problem(await service.client.post(f"/orgs/{ORG}/judge", json=body), 400)
    assert problem["field"] == field


async def test_a_judge_that_cannot_judge_is_502_never_a_pass(
    make_service: MakeService, openai_server: FakeOpenAIServer
) -> None:
    openai_server.script(*[error(500, message="upstream exploded") for _ in range(10)])
    judge = OpenAIJudge(
        OpenAISettings(api_key="sk-test", base_url=openai_server.api_base), policy=fast_policy()
    )
    try:
        svc = await make_service(judge=judge)
        resp = await svc.client.post(
            f"/orgs/{ORG}/judge", json={"rubric": "Be kind", "lastAssistant": "Hello"}
        )
        problem = await _problem(resp, 502)
        assert "pass" not in problem
        assert "judge" in problem["detail"]
    finally:
        await judge.aclose()


# --- catalog CRUD -------------------------------------------------------------------------------


async def test_catalog_crud_round_trip(service: Service) -> None:
    client = service.client
    doc = {"id": "p-basic", "description": "A cautious saver", "userProfile": {"age": 70}}
    created = await client.post("/orgs/neworg/personas", json=doc)
    assert created.status == 201
    stored = await created.json()
    assert stored["orgId"] == "neworg" and stored["createdAt"] and stored["id"] == "p-basic"
    assert (await client.post("/orgs/neworg/personas", json=doc)).status == 409
    listed = await (await client.get("/orgs/neworg/personas")).json()
    assert [d["id"] for d in listed["items"]] == ["p-basic"]
    got = await (await client.get("/orgs/neworg/personas/p-basic")).json()
    assert got["userProfile"] == {"age": 70}
    replaced = await client.put(
        "/orgs/neworg/personas/p-basic", json={"description": "Bold", "userProfile": {}}
    )
    assert replaced.status == 200
    assert (await replaced.json())["createdAt"] == stored["createdAt"]
    assert (await client.delete("/orgs/neworg/personas/p-basic")).status == 204
    await _problem(await client.get("/orgs/neworg/personas/p-basic"), 404)
    await _problem(await client.delete("/orgs/neworg/personas/p-basic"), 404)


async def test_catalog_ids_may_contain_slashes(service: Service) -> None:
    got = await service.client.get(f"/orgs/{ORG}/environments/demo")
    assert got.status == 200
    put = await service.client.put(
        f"/orgs/{ORG}/environments/assistants/dev/v2",
        json={"env": {"channel": "http_chat", "baseUrl": "http://127.0.0.1:1"}},
    )
    assert put.status == 200
    assert (await put.json())["id"] == "assistants/dev/v2"
    assert (await service.client.get(f"/orgs/{ORG}/environments/assistants/dev/v2")).status == 200


@pytest.mark.parametrize(
    ("kind", "doc", "field"),
    [
        ("suites", {"description": "no id"}, "id"),
        ("tests", {"id": "t", "tests": [{"id": "x", "maxTurns": "many"}]}, "tests[0].maxTurns"),
        ("environments", {"id": "e", "env": {"timeoutMs": "slow"}}, "env.timeoutMs"),
        ("requests", {"id": "r", "requests": [{"transport": {}}]}, "requests[0].id"),
    ],
)
async def test_catalog_rejects_documents_that_do_not_fit_the_format(
    service: Service, kind: str, doc: dict, field: str
) -> None:
    problem = await _problem(await service.client.post(f"/orgs/{ORG}/{kind}", json=doc), 400)
    assert any(e["field"] == field for e in problem["errors"]), problem


async def test_put_rejects_an_id_that_differs_from_the_path(service: Service) -> None:
    problem = await _problem(
        await service.client.put(f"/orgs/{ORG}/suites/a", json={"id": "b"}), 400
    )
    assert problem["field"] == "id"


async def test_a_suite_created_over_the_api_can_be_started(service: Service) -> None:
    suite = {
        "id": "api-suite",
        "assistants": {"include": ["demo"]},
        "tests": {"includeIds": ["greets"]},
    }
    assert (await service.client.post(f"/orgs/{ORG}/suites", json=suite)).status == 201
    run_id = await start(service.client, {"suiteId": "api-suite", "orgId": ORG})
    run = await wait_status(service.client, run_id)
    assert run["status"] == "passed"
    assert [i["testId"] for i in run["items"]] == ["greets"]


async def test_a_seed_style_suite_runs_tests_that_carry_its_id(service: Service) -> None:
    client = service.client
    await client.post(
        f"/orgs/{ORG}/suites", json={"id": "seed-suite", "name": "Seed", "defaultEnvId": "demo"}
    )
    await client.post(
        f"/orgs/{ORG}/tests",
        json={
            "id": "seed-t1",
            "suiteId": "seed-suite",
            "steps": [
                {"type": "message", "content": "hello"},
                {"type": "includes", "includes": ["hello"]},
            ],
        },
    )
    run = await wait_status(client, await start(client, {"suiteId": "seed-suite"}))
    assert run["status"] == "passed" and [i["testId"] for i in run["items"]] == ["seed-t1"]


# --- OpenAPI -----------------------------------------------------------------------------------


async def test_openapi_documents_every_route_and_nothing_else(service: Service) -> None:
    served = set(route_paths(service.app))
    resp = await service.client.get("/openapi.json")
    assert resp.status == 200
    document = await resp.json()
    assert document == json.loads(json.dumps(spec()))
    documented = {(method, path) for path, ops in document["paths"].items() for method in ops}
    assert served - documented == set(), "routes missing from /openapi.json"
    assert documented - served == set(), "documented routes that do not exist"
    assert ("post", "/internal/runs/start") in served
    assert ("delete", "/orgs/{orgId}/requests/{docId}") in served


async def test_lamdis_external_judge_speaks_to_this_judge_route(make_service: MakeService) -> None:
    """The ``external`` judge adapter, signed, against this service's /orgs/{orgId}/judge."""
    from lamdis_core.ports.judge import ConversationTurn, JudgeRequest
    from lamdis_http.judges.external import create_judge

    from tests.http.conftest import SECRET, TOKEN

    svc = await make_service(token=TOKEN, secret=SECRET)
    base = str(svc.client.make_url("")).rstrip("/")
    judge = create_judge(
        {"JUDGE_BASE_URL": base, "JUDGE_API_TOKEN": TOKEN, "JUDGE_HMAC_SECRET": SECRET}
    )
    try:
        verdict = await judge.evaluate(
            JudgeRequest(
                rubric="mentions diversification",
                threshold=0.5,
                transcript=[
                    ConversationTurn(role="user", content="What should I do?"),
                    ConversationTurn(role="assistant", content="Diversification lowers risk."),
                ],
                org_id=ORG,
            )
        )
    finally:
        await judge.aclose()
    assert verdict.passed is True
    assert verdict.model == "offline"


async def test_an_empty_env_id_as_the_seeds_ci_job_sends_it_means_not_given(
    service: Service,
) -> None:
    run_id = await start(service.client, {"suiteId": "smoke", "envId": "", "trigger": "ci"})
    run = await wait_status(service.client, run_id)
    assert run["status"] == "passed" and "envId" not in run
