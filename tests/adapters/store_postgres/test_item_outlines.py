"""Item outlines, trends and item windows on PostgreSQL: rows stored before migration 0005 (no
outline columns) are read from the item's document, a row that cannot be read is left out of
the outlines (``None`` at its place in a window), not an error, the SQL percentile is the
reports' nearest rank, and a window reads the ("runId", seq) index."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest
from lamdis_core.ports.store import ItemOutline, Trends
from lamdis_core.reports.summary import percentile
from lamdis_store_postgres import PostgresRunStore, create_pool
from lamdis_store_postgres.store import _ITEM_PAGE_SQL

from tests.contracts.store import make_item, make_run

pytestmark = pytest.mark.postgres


@pytest.fixture
async def store(postgres_dsn: str) -> AsyncIterator[PostgresRunStore]:
    store = PostgresRunStore(await create_pool(postgres_dsn, max_size=2))
    yield store
    await store.aclose()


async def test_rows_without_outline_columns_are_read_from_the_document(
    store: PostgresRunStore,
) -> None:
    run = await store.create_run(make_run())
    assert run.id is not None
    items = [make_item(1), make_item(2)]
    for item in items:
        await store.append_item(run.id, item)
    await store.pool.execute(
        'UPDATE test_run_items SET "testName" = NULL, repeat = NULL, "judgeScore" = NULL, '
        '"perTurnMs" = NULL WHERE "runId" = $1',
        run.id,
    )
    outlines = await store.item_outlines([run.id])
    assert outlines[run.id] == [ItemOutline.of(i) for i in items]


async def test_a_damaged_row_is_left_out_and_the_rest_read(store: PostgresRunStore) -> None:
    run = await store.create_run(make_run())
    assert run.id is not None
    for n in range(3):
        await store.append_item(run.id, make_item(n))
    await store.pool.execute(
        """UPDATE test_run_items SET "perTurnMs" = NULL, item = '{"testId": 5}'::jsonb
        WHERE "runId" = $1 AND "testId" = 'test-1'""",
        run.id,
    )
    await store.pool.execute(
        """UPDATE test_run_items SET status = 'exploded' WHERE "runId" = $1 AND "testId" = 'test-2'""",
        run.id,
    )
    outlines = await store.item_outlines([run.id])
    assert [o.test_id for o in outlines[run.id]] == ["test-0"]


async def test_trends_of_rows_without_outline_columns_match_the_reference(
    store: PostgresRunStore,
) -> None:
    runs = []
    for n in range(2):
        run = await store.create_run(make_run())
        assert run.id is not None
        runs.append(run.id)
        for m in range(3):
            await store.append_item(run.id, make_item(m + n))
    fast = await store.trends(runs)
    assert fast == Trends.of(runs, await store.item_outlines(runs))
    await store.pool.execute(
        'UPDATE test_run_items SET "perTurnMs" = NULL WHERE "runId" = $1 AND "testId" = $2',
        runs[1],
        "test-2",
    )
    assert await store.trends(runs) == fast  # read from the documents instead


async def test_percentile_disc_is_the_nearest_rank_python_computes(
    store: PostgresRunStore,
) -> None:
    rng = random.Random(7)
    for n in range(1, 301):
        values = [round(rng.uniform(0, 5000), 1) for _ in range(n)]
        in_sql = await store.pool.fetchval(
            "SELECT percentile_disc(0.95) WITHIN GROUP (ORDER BY x) FROM unnest($1::float8[]) x",
            values,
        )
        assert round(in_sql, 1) == percentile(values, 0.95), n


async def test_a_damaged_row_is_none_at_its_place_and_the_rest_read(
    store: PostgresRunStore,
) -> None:
    run = await store.create_run(make_run())
    assert run.id is not None
    items = [make_item(n) for n in range(4)]
    for item in items:
        await store.append_item(run.id, item)
    await store.pool.execute(
        """UPDATE test_run_items SET item = jsonb_set(item, '{transcript}', '"torn"')
        WHERE "runId" = $1 AND "testId" = 'test-1'""",
        run.id,
    )
    await store.pool.execute(
        """UPDATE test_run_items SET item = '[1, 2]'::jsonb WHERE "runId" = $1 AND "testId" = 'test-2'""",
        run.id,
    )
    page = await store.get_items(run.id, offset=0, limit=10)
    assert page is not None
    assert page.items == (items[0], None, None, items[3])
    assert (page.total, page.unreadable) == (4, (1, 2))
    later = await store.get_items(run.id, offset=2, limit=2)
    assert later is not None
    assert later.items == (None, items[3])
    whole = await store.get_run(run.id)
    assert whole is not None
    assert whole.items == [items[0], items[3]]
    assert "item 1 (" in (whole.error or "") and "item 2 (" in (whole.error or "")


async def test_the_window_is_read_through_the_run_index(store: PostgresRunStore) -> None:
    run = await store.create_run(make_run())
    assert run.id is not None
    for n in range(3):
        await store.append_item(run.id, make_item(n))
    async with store.pool.acquire() as conn:
        # As on a table of many runs: the planner may not pick a sequential scan.
        await conn.execute("SET enable_seqscan = off")
        plan = "\n".join(
            r[0] for r in await conn.fetch("EXPLAIN " + _ITEM_PAGE_SQL, run.id, 100, 100)
        )
    assert "test_run_items_run_idx" in plan
    assert "Seq Scan on test_run_items" not in plan
