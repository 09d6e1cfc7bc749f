"""Writes that landed but whose answer was lost (the connection dropped right after the
server applied them): the store's one retry must find what the first attempt did."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lamdis_core.domain.results import JudgeSummary, Run, RunStatus, Totals, Usage
from lamdis_core.ports.store import INTERRUPTED, Claim
from lamdis_store_mongo import MongoRunStore, open_store
from pymongo.errors import AutoReconnect

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


class _LoseOneAnswer:
    """The runs collection, except that the first ``update_one`` that ``when`` picks is
    applied and then answered with a dropped connection."""

    def __init__(self, inner: Any, when: Callable[[dict[str, Any]], bool]) -> None:
        self.inner = inner
        self.when = when
        self.lost = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def update_one(self, query: Any, update: dict[str, Any], *args: Any, **kw: Any) -> Any:
        result = await self.inner.update_one(query, update, *args, **kw)
        if not self.lost and result.matched_count and self.when(update):
            self.lost += 1
            raise AutoReconnect("connection reset after the write was applied (injected)")
        return result


@pytest.fixture
async def store(mongo_url: str) -> AsyncIterator[MongoRunStore]:
    store, _ = await open_store({"MONGO_URL": mongo_url})
    yield store
    await store.aclose()


def _sets(field: str, value: Any) -> Callable[[dict[str, Any]], bool]:
    return lambda update: update.get("$set", {}).get(field) == value


async def test_recover_expired_retried_after_a_lost_answer_still_returns_the_run(
    store: MongoRunStore,
) -> None:
    """The caller sends the `interrupted` webhook from the returned list."""
    run = await store.create_run(Run(org_id="o", webhook_url="http://hook.test"))
    assert run.id is not None
    assert await store.claim_next("dead", now=T0, lease_seconds=1) is not None
    raw = store._runs
    await raw.update_one({"status": "running"}, {"$set": {"attempts": 2}})
    lossy = _LoseOneAnswer(raw, _sets("error", INTERRUPTED))
    store._runs = lossy  # type: ignore[assignment]  # test seam: the collection it writes to
    changed = await store.recover_expired(now=T0 + timedelta(minutes=1), max_attempts=2)
    assert lossy.lost == 1
    assert [(r.id, r.status, r.error) for r in changed] == [(run.id, RunStatus.FAILED, INTERRUPTED)]


async def test_a_fenced_finish_retried_after_a_lost_answer_is_not_refused(
    store: MongoRunStore,
) -> None:
    await store.create_run(Run(org_id="o"))
    claimed = await store.claim_next("w", now=T0, lease_seconds=30)
    assert claimed is not None and claimed.id is not None
    lossy = _LoseOneAnswer(store._runs, _sets("status", "passed"))
    store._runs = lossy  # type: ignore[assignment]
    await store.finish_run(
        claimed.id,
        status=RunStatus.PASSED,
        totals=Totals(passed=1),
        judge=JudgeSummary(),
        usage=Usage(),
        finished_at=T0 + timedelta(seconds=5, microseconds=123456),
        claim=Claim.of(claimed),
    )
    assert lossy.lost == 1
    stored = await store.get_run(claimed.id)
    assert stored is not None and stored.status is RunStatus.PASSED
