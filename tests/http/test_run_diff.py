"""``GET /internal/runs/{id}/diff?base=<runId>|last-passed`` on stored runs."""

from __future__ import annotations

from datetime import UTC, datetime

from lamdis_core.domain.results import (
    Item,
    ItemStatus,
    JudgeSummary,
    Run,
    RunStatus,
    Totals,
    Usage,
)

from tests.http.conftest import ORG, MakeService, Service
from tests.unit.reports.test_reports import _item

T = datetime(2026, 3, 1, tzinfo=UTC)


async def _stored(
    svc: Service, items: list[Item], *, env_id: str = "staging", suite_id: str = "smoke"
) -> str:
    run = await svc.store.create_run(
        Run(org_id=ORG, suite_id=suite_id, env_id=env_id, status=RunStatus.QUEUED)
    )
    assert run.id is not None
    for item in items:
        await svc.store.append_item(run.id, item)
    totals = Totals.of(items)
    failed = totals.failed or totals.errors
    await svc.store.finish_run(
        run.id,
        status=RunStatus.FAILED if failed else RunStatus.PASSED,
        totals=totals,
        judge=JudgeSummary(),
        usage=Usage(),
        finished_at=T,
    )
    return run.id


def _good() -> list[Item]:
    return [
        _item("a", ItemStatus.PASSED, score=0.9, turns_ms=(100.0, 120.0)),
        _item("b", ItemStatus.PASSED, turns_ms=(100.0,)),
    ]


def _worse() -> list[Item]:
    return [
        _item("a", ItemStatus.PASSED, score=0.6, turns_ms=(100.0, 400.0)),
        _item("b", ItemStatus.FAILED, turns_ms=(100.0,), reply="Buy it all now."),
    ]


async def test_diff_against_a_named_base_run(make_service: MakeService) -> None:
    svc = await make_service(start_worker=False, import_tree=False)
    base = await _stored(svc, _good())
    new = await _stored(svc, _worse())
    resp = await svc.client.get(f"/internal/runs/{new}/diff", params={"base": base})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert (body["baseRunId"], body["runId"], body["regression"]) == (base, new, True)
    tests = {t["testId"]: t for t in body["tests"]}
    assert tests["b"]["newlyFailing"] is True
    assert tests["b"]["firstDivergence"]["new"]["content"] == "Buy it all now."
    assert tests["a"]["scoreDrop"] == 0.3 and tests["a"]["latencyGrowth"] > 0.2


async def test_last_passed_is_the_newest_passed_run_of_the_same_suite_and_environment(
    make_service: MakeService,
) -> None:
    svc = await make_service(start_worker=False, import_tree=False)
    older = await _stored(svc, _good())
    await _stored(svc, _good(), env_id="production")  # another environment
    await _stored(svc, _good(), suite_id="other")  # another suite
    new = await _stored(svc, _worse())
    resp = await svc.client.get(f"/internal/runs/{new}/diff", params={"base": "last-passed"})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["baseRunId"] == older


async def test_no_passed_run_unknown_runs_and_a_missing_base_are_problems(
    make_service: MakeService,
) -> None:
    svc = await make_service(start_worker=False, import_tree=False)
    new = await _stored(svc, _worse())
    resp = await svc.client.get(f"/internal/runs/{new}/diff", params={"base": "last-passed"})
    assert resp.status == 404
    assert (
        "no passed run of suite 'smoke' in environment 'staging'" in (await resp.json())["detail"]
    )
    resp = await svc.client.get(f"/internal/runs/{new}/diff", params={"base": "nope"})
    assert resp.status == 404 and "unknown base run 'nope'" in (await resp.json())["detail"]
    resp = await svc.client.get("/internal/runs/nope/diff", params={"base": new})
    assert resp.status == 404
    resp = await svc.client.get(f"/internal/runs/{new}/diff")
    assert resp.status == 400 and (await resp.json())["field"] == "base"
