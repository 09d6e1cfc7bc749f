"""A stored run whose jsonb content was damaged (edited by hand, a restore gone wrong) is still
read and listed, on real PostgreSQL, with a note naming what could not be read."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg  # type: ignore[import-untyped]
import pytest
from lamdis_core.domain.results import Item, ItemStatus, Run, Trigger
from lamdis_store_postgres import PostgresRunStore, create_pool

from tests.http.conftest import MakeService

pytestmark = pytest.mark.postgres


@pytest.fixture
async def store(postgres_dsn: str) -> AsyncIterator[PostgresRunStore]:
    store = PostgresRunStore(await create_pool(postgres_dsn, max_size=4))
    yield store
    await store.aclose()


def _item(test_id: str) -> Item:
    return Item(test_id=test_id, test_name=test_id, assistant="bot", status=ItemStatus.PASSED)


async def _damaged_run(store: PostgresRunStore, postgres_dsn: str) -> tuple[str, str]:
    """One damaged run (a count in totals is text, usage a string, the webhook record a number,
    its second item's status a number) next to an intact one; returns their ids."""
    damaged = await store.create_run(Run(org_id="acme", suite_id="smoke", trigger=Trigger.CI))
    intact = await store.create_run(Run(org_id="acme", suite_id="smoke", trigger=Trigger.CI))
    assert damaged.id is not None and intact.id is not None
    for test_id in ("t0", "t1"):
        await store.append_item(damaged.id, _item(test_id))
    conn = await asyncpg.connect(postgres_dsn)
    try:
        await conn.execute(
            """UPDATE test_runs SET totals = '{"passed": "many"}'::jsonb,
               usage = '"lots"'::jsonb, webhook = '7'::jsonb, error = 'judge unreachable'
               WHERE id = $1""",
            damaged.id,
        )
        await conn.execute(
            """UPDATE test_run_items SET item = jsonb_set(item, '{status}', '5')
               WHERE "runId" = $1 AND "testId" = 't1'""",
            damaged.id,
        )
    finally:
        await conn.close()
    return damaged.id, intact.id


async def test_a_damaged_run_is_read_and_listed_with_a_note(
    store: PostgresRunStore, postgres_dsn: str
) -> None:
    from lamdis_core.ports.store import RunFilter

    damaged_id, intact_id = await _damaged_run(store, postgres_dsn)

    run = await store.get_run(damaged_id)
    assert run is not None
    assert run.totals.total == 0 and run.usage.calls == 0  # shown empty, not invented
    assert run.webhook is None
    assert [i.test_id for i in run.items] == ["t0"]  # the readable item is kept
    assert run.error is not None
    assert run.error.startswith("judge unreachable; this stored run is damaged: ")
    for part in ("totals (", "usage (", "webhook (", "item 1 ("):
        assert part in run.error

    listed = await store.list_runs(RunFilter(org_id="acme"))
    assert {r.id for r in listed} == {damaged_id, intact_id}
    by_id = {r.id: r for r in listed}
    assert "totals (" in (by_id[damaged_id].error or "")
    assert by_id[intact_id].error is None


async def test_the_api_lists_and_shows_a_damaged_run(
    store: PostgresRunStore, postgres_dsn: str, make_service: MakeService
) -> None:
    damaged_id, intact_id = await _damaged_run(store, postgres_dsn)
    svc = await make_service(store=store, start_worker=False)  # type: ignore[arg-type]

    resp = await svc.client.get("/internal/runs")
    assert resp.status == 200, await resp.text()
    runs = {r["id"]: r for r in (await resp.json())["runs"]}
    assert set(runs) == {damaged_id, intact_id}
    assert "this stored run is damaged" in runs[damaged_id]["error"]

    resp = await svc.client.get(f"/internal/runs/{damaged_id}")
    assert resp.status == 200, await resp.text()
    shown = await resp.json()
    assert [i["testId"] for i in shown["items"]] == ["t0"]
    assert "item 1 (" in shown["error"]
