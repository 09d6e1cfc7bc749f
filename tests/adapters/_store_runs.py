"""A real engine run recorded in a store as the hosted worker records it, so the seed's
queries are checked against documents and rows a run actually wrote."""

from __future__ import annotations

from datetime import datetime, timedelta

from lamdis_core.domain.plan import PlanEntry, RunPlan
from lamdis_core.domain.results import Item, Run, Trigger
from lamdis_core.engine import Engine
from lamdis_core.ports.store import RunStore
from lamdis_core.ports.target import TurnRequest
from lamdis_core.retry import RetryPolicy
from lamdis_core.testing.fakes import FakeClock, FakeRequester, FakeTargetFactory, ScriptedJudge


class _AppendEachItem:
    """The hosted worker's part: every finished item goes to the store at once."""

    def __init__(self, store: RunStore, run_id: str) -> None:
        self.store = store
        self.run_id = run_id

    async def item_started(self, entry: PlanEntry, repeat: int) -> None:
        return None

    async def turn_finished(self, entry: PlanEntry, repeat: int, turn: int) -> None:
        return None

    async def item_finished(self, item: Item) -> None:
        await self.store.append_item(self.run_id, item)


def _reply(turn: TurnRequest) -> str:
    return f"You asked about {turn.message}. Investing involves risk."


async def run_through_store(
    store: RunStore,
    plan: RunPlan,
    at: datetime,
    *,
    score: float,
    tokens_per_call: int,
    duration_s: float,
) -> str:
    """Queue, claim, execute with the engine and finish one run; returns its id.

    The judge scores every check ``score``; the run finishes ``duration_s`` after ``at``.
    """
    queued = await store.create_run(Run(org_id="acme", suite_id=plan.suite_id, trigger=Trigger.CI))
    assert queued.id is not None
    claimed = await store.claim_next("worker-1", now=at, lease_seconds=60)
    assert claimed is not None
    assert claimed.id == queued.id
    engine = Engine(
        targets={"http_chat": FakeTargetFactory(_reply)},
        judge=ScriptedJudge([score], tokens_per_call=tokens_per_call),
        requester=FakeRequester(),
        clock=FakeClock(at),
        retry=RetryPolicy(retries=0, jitter=False),
        env={},
    )
    result = await engine.run(plan, observer=_AppendEachItem(store, queued.id))
    await store.finish_run(
        queued.id,
        status=result.status,
        totals=result.totals,
        judge=result.judge,
        usage=result.usage,
        finished_at=at + timedelta(seconds=duration_s),
    )
    return queued.id
