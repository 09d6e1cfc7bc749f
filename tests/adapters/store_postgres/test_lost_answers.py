"""Writes whose commit landed but whose answer was lost (the connection dropped right after
COMMIT): the store's retry must find what the first attempt did, not redo or refuse it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lamdis_core.domain.results import JudgeSummary, Run, RunStatus, Totals, Usage
from lamdis_core.ports.store import INTERRUPTED, Claim
from lamdis_store_postgres import PostgresRunStore, create_pool

from tests.contracts.store import make_item

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
async def store(postgres_dsn: str) -> AsyncIterator[PostgresRunStore]:
    store = PostgresRunStore(await create_pool(postgres_dsn, max_size=4))
    yield store
    await store.aclose()


def lose_first_answer(store: PostgresRunStore, operation: str) -> list[int]:
    """Make the first ``operation`` commit and then fail as a dropped connection does; returns
    the attempts the store made, for the test to check the retry happened."""
    database = store._db  # test seam: the one place every operation goes through
    real_run = database.run
    attempts: list[int] = []

    async def run(op: str, body: Callable[[Any, int], Awaitable[Any]]) -> Any:
        if op != operation:
            return await real_run(op, body)

        async def answer_lost_once(conn: Any, attempt: int) -> Any:
            attempts.append(attempt)
            result = await body(conn, attempt)
            if attempt == 1:
                raise ConnectionResetError("connection reset after COMMIT (injected)")
            return result

        return await real_run(op, answer_lost_once)

    database.run = run  # type: ignore[method-assign]
    return attempts


async def test_recover_expired_retried_after_a_lost_answer_still_returns_the_runs(
    store: PostgresRunStore,
) -> None:
    """The caller sends the `interrupted` webhook from the returned list: a retry that found
    nothing left to do must still report the runs the first attempt changed."""
    failing = await store.create_run(Run(org_id="o", webhook_url="http://hook.test"))
    requeued = await store.create_run(Run(org_id="o", created_at=T0 + timedelta(seconds=1)))
    assert failing.id and requeued.id
    for _ in range(2):
        claimed = await store.claim_next("dead", now=T0, lease_seconds=1)
        assert claimed is not None
    # give the first run the history of one earlier attempt, so this expiry fails it
    async with store.pool.acquire() as conn:
        await conn.execute("UPDATE test_runs SET attempts = 2 WHERE id = $1", failing.id)
    attempts = lose_first_answer(store, "recover_expired")
    changed = await store.recover_expired(now=T0 + timedelta(minutes=1), max_attempts=2)
    assert attempts == [1, 2], "the store should have retried once"
    by_id = {r.id: r for r in changed}
    assert set(by_id) == {failing.id, requeued.id}
    assert by_id[failing.id].status is RunStatus.FAILED
    assert by_id[failing.id].error == INTERRUPTED
    assert by_id[requeued.id].status is RunStatus.QUEUED
    # and a later pass reports them no more
    assert await store.recover_expired(now=T0 + timedelta(minutes=2)) == []


async def test_a_fenced_finish_retried_after_a_lost_answer_is_not_refused(
    store: PostgresRunStore,
) -> None:
    await store.create_run(Run(org_id="o"))
    claimed = await store.claim_next("w", now=T0, lease_seconds=30)
    assert claimed is not None and claimed.id is not None
    attempts = lose_first_answer(store, "finish_run")
    await store.finish_run(
        claimed.id,
        status=RunStatus.PASSED,
        totals=Totals(passed=1),
        judge=JudgeSummary(),
        usage=Usage(),
        finished_at=T0 + timedelta(seconds=5),
        claim=Claim.of(claimed),
    )
    assert attempts == [1, 2]
    stored = await store.get_run(claimed.id)
    assert stored is not None and stored.status is RunStatus.PASSED


async def test_a_fenced_append_retried_after_a_lost_answer_is_stored_once(
    store: PostgresRunStore,
) -> None:
    await store.create_run(Run(org_id="o"))
    claimed = await store.claim_next("w", now=T0, lease_seconds=30)
    assert claimed is not None and claimed.id is not None
    attempts = lose_first_answer(store, "append_item")
    await store.append_item(claimed.id, make_item(1), claim=Claim.of(claimed), key="k1")
    assert attempts == [1, 2]
    stored = await store.get_run(claimed.id)
    assert stored is not None and [i.test_id for i in stored.items] == ["test-1"]
