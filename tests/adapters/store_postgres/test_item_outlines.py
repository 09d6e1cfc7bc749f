"""Item outlines, trends and item windows on PostgreSQL: rows stored before migration 0005 (no
outline columns) are read from the item's document, a row that cannot be read is left out of
the outlines (``None`` at its place in a window), not an error, the SQL percentile is the
reports' nearest rank, a window reads the ("runId", seq) index, and the run figures
finish_run keeps (migration 0006) are written, dropped when an item comes later, and computed
when absent."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
from lamdis_core.domain.results import RunStatus, Timings
from lamdis_core.ports.store import ItemOutline, Trends
from lamdis_core.reports.summary import percentile
from lamdis_store_postgres import PostgresRunStore, create_pool
from lamdis_store_postgres.store import _ITEM_PAGE_SQL

from tests.contracts.store import finish, make_item, make_run

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


async def _figures(store: PostgresRunStore, run_id: str) -> tuple[Any, ...]:
    row = await store.pool.fetchrow(
        'SELECT "itemCount", "turnCount", "p95TurnMs" FROM test_runs WHERE id = $1', run_id
    )
    return tuple(row)


async def test_finish_keeps_the_run_figures_on_its_row(store: PostgresRunStore) -> None:
    """finish_run writes the run's figures (migration 0006); a run finished before them
    (NULL columns) reads the same figures, computed from its items."""
    run = await store.create_run(make_run())
    bare = await store.create_run(make_run())
    assert run.id is not None and bare.id is not None
    for n, turns in enumerate(([120.0, 99.5], [], [3000.5])):
        await store.append_item(run.id, make_item(n, timings=Timings.from_turns(turns)))
    await store.append_item(bare.id, make_item(7, timings=Timings()))
    assert await _figures(store, run.id) == (None, None, None)  # running: nothing kept
    await finish(store, run.id, RunStatus.PARTIAL)
    await finish(store, bare.id, RunStatus.PARTIAL)
    assert await _figures(store, run.id) == (3, 3, 3000.5)
    assert await _figures(store, bare.id) == (1, 0, None)  # a run with no turns
    kept = await store.trends([run.id, bare.id])
    assert kept == Trends.of([run.id, bare.id], await store.item_outlines([run.id, bare.id]))
    await store.pool.execute(
        'UPDATE test_runs SET "itemCount" = NULL, "turnCount" = NULL, "p95TurnMs" = NULL'
    )
    assert await store.trends([run.id, bare.id]) == kept  # finished before migration 0006


async def test_an_item_appended_after_the_finish_drops_the_kept_figures(
    store: PostgresRunStore,
) -> None:
    run = await store.create_run(make_run())
    assert run.id is not None
    await store.append_item(run.id, make_item(1, timings=Timings.from_turns([10.0])))
    await finish(store, run.id, RunStatus.PARTIAL)
    assert await _figures(store, run.id) == (1, 1, 10.0)
    await store.append_item(run.id, make_item(2, timings=Timings.from_turns([50.0])))
    assert await _figures(store, run.id) == (None, None, None)
    (trend,) = (await store.trends([run.id])).runs
    assert (trend.items, trend.turns, trend.p95_ms) == (2, 2, 50.0)


async def test_a_run_holding_items_from_before_migration_0005_keeps_no_figures(
    store: PostgresRunStore,
) -> None:
    """Its items' latencies are only in their documents: finish_run keeps nothing, and the
    trends read the documents."""
    run = await store.create_run(make_run())
    assert run.id is not None
    await store.append_item(run.id, make_item(1, timings=Timings.from_turns([10.0, 20.0])))
    await store.pool.execute(
        'UPDATE test_run_items SET "perTurnMs" = NULL WHERE "runId" = $1', run.id
    )
    await finish(store, run.id, RunStatus.PARTIAL)
    assert await _figures(store, run.id) == (None, None, None)
    got = await store.trends([run.id])
    assert got == Trends.of([run.id], await store.item_outlines([run.id]))
    assert (got.runs[0].items, got.runs[0].turns, got.runs[0].p95_ms) == (1, 2, 20.0)
