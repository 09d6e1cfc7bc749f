"""Several workers on one queue, and a PostgreSQL server that restarts under a running store."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from lamdis_core.domain.results import (
    JudgeSummary,
    Run,
    RunStatus,
    Totals,
    TranscriptEntry,
    Usage,
)
from lamdis_core.ports.store import RunFilter
from lamdis_store_postgres import PostgresRunStore, StoreUnavailableError, create_pool
from structlog.testing import capture_logs

from tests.contracts.store import make_item
from tests.fixtures.postgres import PostgresCluster

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
async def store(postgres_dsn: str) -> AsyncIterator[PostgresRunStore]:
    store = PostgresRunStore(await create_pool(postgres_dsn, max_size=4))
    yield store
    await store.aclose()


async def test_two_workers_with_their_own_pools_never_take_the_same_run(
    postgres_dsn: str,
) -> None:
    """Like two service instances: separate pools, one queue, claiming as fast as they can."""
    setup = PostgresRunStore(await create_pool(postgres_dsn, max_size=2))
    workers = [PostgresRunStore(await create_pool(postgres_dsn, max_size=4)) for _ in range(2)]
    try:
        queued = {(await setup.create_run(Run(org_id="o"))).id for _ in range(60)}
        taken: dict[str, list[str]] = {"a": [], "b": []}

        async def drain(name: str, worker: PostgresRunStore) -> None:
            # several claimers per worker, so each pool also races with itself
            async def claimer() -> None:
                while (run := await worker.claim_next(name, now=T0, lease_seconds=60)) is not None:
                    assert run.id is not None
                    taken[name].append(run.id)

            await asyncio.gather(*(claimer() for _ in range(4)))

        await asyncio.gather(drain("a", workers[0]), drain("b", workers[1]))
        every = taken["a"] + taken["b"]
        assert len(every) == len(set(every)) == 60
        assert set(every) == queued
        assert taken["a"]
        assert taken["b"]
        for run_id in every:
            stored = await setup.get_run(run_id, include_items=False)
            assert stored is not None
            assert stored.attempts == 1
            assert stored.lease_owner == ("a" if run_id in taken["a"] else "b")
    finally:
        for s in (setup, *workers):
            await s.aclose()


@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_server_restart_while_appending_loses_no_reported_item(
    postgres_cluster: PostgresCluster, store: PostgresRunStore, mode: str
) -> None:
    """Items keep being appended across a restart ("immediate" is a crash); none reported is lost."""
    run = await store.create_run(Run(org_id="o", suite_id="s"))
    assert run.id is not None
    reported: list[str] = []
    restart: asyncio.Task[None] | None = None
    after_restart = 0
    with capture_logs() as logs:
        while after_restart < 20:
            await store.append_item(run.id, make_item(len(reported)))
            reported.append(f"test-{len(reported)}")
            if len(reported) == 40:
                restart = asyncio.create_task(asyncio.to_thread(postgres_cluster.restart, mode))
            if restart is not None and restart.done():
                after_restart += 1
            await asyncio.sleep(0.002)
    assert restart is not None
    await restart  # re-raises if pg_ctl failed
    retries = [e for e in logs if e["event"] == "postgres.retry"]
    assert retries, "no append met the restart; the test proved nothing"
    assert {e["operation"] for e in retries} == {"append_item"}
    stored = await store.get_run(run.id)
    assert stored is not None
    assert [i.test_id for i in stored.items] == reported
    assert stored.items[-1] == make_item(len(reported) - 1)
    # and the store keeps working on fresh connections
    await store.update_progress(run.id, stored.progress)
    assert await store.list_runs(RunFilter(org_id="o")) != []


async def test_claims_and_stops_work_after_a_restart(
    postgres_cluster: PostgresCluster, store: PostgresRunStore
) -> None:
    first = await store.create_run(Run(org_id="o"))
    second = await store.create_run(Run(org_id="o"))
    assert first.id is not None
    assert second.id is not None
    await asyncio.to_thread(postgres_cluster.restart, "fast")
    claimed = await store.claim_next("w", now=T0, lease_seconds=30)
    assert claimed is not None
    assert claimed.id == first.id
    stopped = await store.request_stop(second.id, now=T0)
    assert stopped is not None
    assert stopped.status is RunStatus.STOPPED


async def test_a_server_that_stays_down_gives_a_clear_error(
    postgres_cluster: PostgresCluster, postgres_dsn: str
) -> None:
    store = PostgresRunStore(await create_pool(postgres_dsn, max_size=2), retry_seconds=0.5)
    try:
        run = await store.create_run(Run(org_id="o"))
        assert run.id is not None
        await asyncio.to_thread(postgres_cluster.stop, "fast")
        try:
            with pytest.raises(
                StoreUnavailableError, match="connection lost during get_run"
            ) as caught:
                await store.get_run(run.id)
            assert caught.value.operation == "get_run"
        finally:
            await asyncio.to_thread(postgres_cluster.start)
        # once it is back, the same store reconnects by itself
        again = await store.get_run(run.id)
        assert again is not None
        assert again.id == run.id
    finally:
        await store.aclose()


async def test_text_postgres_cannot_hold_is_stored_with_a_replacement(
    store: PostgresRunStore,
) -> None:
    """NUL, lone surrogates and NaN cannot be stored; they are replaced, the item is kept."""
    run = await store.create_run(Run(org_id="o"))
    assert run.id is not None
    item = make_item(1)
    item.transcript.append(TranscriptEntry(role="assistant", content="a\x00b", latency_ms=math.nan))
    item.transcript.append(TranscriptEntry(role="assistant", content="half an emoji \ud83d"))
    item.test_id = "id\x00"
    await store.append_item(run.id, item)
    await store.finish_run(
        run.id, status=RunStatus.FAILED, totals=Totals(errors=1), judge=JudgeSummary(),
        usage=Usage(), finished_at=T0, error="target said \x00",
    )  # fmt: skip
    stored = await store.get_run(run.id)
    assert stored is not None
    (got,) = stored.items
    assert got.transcript[-2].content == "a\ufffdb"
    assert got.transcript[-2].latency_ms is None
    assert got.transcript[-1].content == "half an emoji \ufffd"
    assert got.transcript[:-2] == item.transcript[:-2]
    assert got.test_id == "id\ufffd"
    assert stored.error == "target said \ufffd"


async def test_recover_expired_shares_the_work_between_two_recoverers(
    postgres_dsn: str,
) -> None:
    """Two instances recovering at once each change a run at most once."""
    stores = [PostgresRunStore(await create_pool(postgres_dsn, max_size=2)) for _ in range(2)]
    try:
        for _ in range(10):
            await stores[0].create_run(Run(org_id="o"))
        while await stores[0].claim_next("dead", now=T0, lease_seconds=1):
            pass
        later = T0 + timedelta(minutes=1)
        results = await asyncio.gather(*(s.recover_expired(now=later) for s in stores))
        ids = [r.id for result in results for r in result]
        assert len(ids) == len(set(ids)) == 10
        assert all(r.status is RunStatus.QUEUED for result in results for r in result)
    finally:
        for s in stores:
            await s.aclose()
