"""Item outlines on PostgreSQL: rows stored before migration 0005 (no outline columns) are
read from the item's document, and a row that cannot be read is left out, not an error."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from lamdis_core.ports.store import ItemOutline
from lamdis_store_postgres import PostgresRunStore, create_pool

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
