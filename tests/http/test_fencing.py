"""Fenced writes (issue 9, items 1 and 7): a run is never executed twice into one record.

Two worker pools share one real database, as two instances of ``lamdis serve`` do. The first
claims a run and then stalls: its assistant call blocks and its lease renewal hangs (or,
standing in for a paused process whose clock ran on, "succeeds" without reaching the store).
The second recovers the expired run, re-claims and finishes it. Whatever the first does when
it wakes up, the record holds exactly one item per test and totals that match.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from lamdis_core.domain import config as c
from lamdis_core.domain.convert import make_converter
from lamdis_core.domain.plan import PlanEntry, RunPlan
from lamdis_core.domain.results import Run, RunStatus, Trigger, WebhookDelivery
from lamdis_core.engine import Engine
from lamdis_core.offline_judge import OfflineJudge
from lamdis_core.ports.clock import SystemClock
from lamdis_core.ports.notifier import WebhookPayload
from lamdis_core.ports.store import LostClaimError, RunStore
from lamdis_core.ports.target import TurnRequest
from lamdis_core.retry import RetryPolicy
from lamdis_core.testing.fakes import FakeRequester, FakeTargetFactory
from lamdis_http._worker import SuitePlan, WorkerPool

TESTS = ["t0", "t1", "t2", "t3"]
# The stalled first instance's lease: short, so the test need not wait long for it to expire.
LEASE_S = 0.9
# The second instance's: it must keep the run, and a real renewal must answer within a third
# of the lease; on a loaded machine FerretDB can take longer than 0.3 s, and the second
# instance then (rightly) gave the run up and the test failed for the wrong reason.
SECOND_LEASE_S = 9.0
_converter = make_converter()


def _plan() -> RunPlan:
    assistant = c.Assistant(id="bot", env=c.AssistantEnv(base_url="http://bot.invalid"))
    tests = [
        {"id": t, "steps": [{"type": "message", "content": f"hi {t}"},
                            {"type": "includes", "includes": ["ok"]}]}
        for t in TESTS
    ]  # fmt: skip
    entries = [
        PlanEntry(test=_converter.structure(t, c.TestCase), assistant=assistant) for t in tests
    ]
    return RunPlan(suite_id="suite", entries=entries)


class _OnePlan:
    async def build(self, run: Run) -> list[SuitePlan]:
        return [SuitePlan("suite", _plan())]


class _Notifier:
    def __init__(self) -> None:
        self.sent: list[WebhookPayload] = []

    async def deliver(self, url: str, payload: WebhookPayload) -> WebhookDelivery:
        self.sent.append(payload)
        return WebhookDelivery(url=url, ok=True, attempts=1, status=204)


def _engines(responder: Callable[[TurnRequest], Any]) -> Callable[[RunPlan], Awaitable[Engine]]:
    async def make(plan: RunPlan) -> Engine:
        return Engine(
            targets={"http_chat": FakeTargetFactory(responder)},
            judge=OfflineJudge(),
            requester=FakeRequester(),
            clock=SystemClock(),
            retry=RetryPolicy(retries=0, jitter=False),
            env={},
        )

    return make


class _StalledStore:
    """The first instance's view of the store: every call is real, except the lease renewal,
    which hangs (``renewal="hang"``) or answers ``True`` without reaching the store
    (``renewal="lie"``), and it claims one run only (stalled, it takes no other). Records each
    fenced write and whether the store refused it."""

    FENCED = ("append_item", "update_progress", "finish_run")

    def __init__(self, inner: RunStore, renewal: str) -> None:
        self.inner = inner
        self.renewal = renewal
        self.writes: list[tuple[str, str]] = []
        self.claimed = False

    async def claim_next(self, *args: Any, **kwargs: Any) -> Run | None:
        if self.claimed:
            return None
        run = await self.inner.claim_next(*args, **kwargs)
        self.claimed = run is not None
        return run

    async def renew_lease(self, *args: Any, **kwargs: Any) -> bool:
        if self.renewal == "hang":
            await asyncio.Event().wait()
        return True

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if name not in self.FENCED:
            return method

        async def recorded(*args: Any, **kwargs: Any) -> Any:
            try:
                result = await method(*args, **kwargs)
            except LostClaimError:
                self.writes.append((name, "refused"))
                raise
            self.writes.append((name, "stored"))
            return result

        return recorded


async def _wait_until(check: Callable[[], Awaitable[bool]], *, within: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {within} s waiting until {what}")
        await asyncio.sleep(0.05)


async def _stalled_first_instance(
    open_instance: Callable[[], Awaitable[RunStore]], renewal: str
) -> tuple[_StalledStore, Run]:
    setup = await open_instance()
    gate = asyncio.Event()

    async def blocked(turn: TurnRequest) -> str:
        await gate.wait()
        return "ok"

    first_store = _StalledStore(await open_instance(), renewal)
    second_store = await open_instance()
    notifier = _Notifier()
    common: dict[str, Any] = {
        "plans": _OnePlan(),
        "notifier": notifier,
        "clock": SystemClock(),
        "poll_seconds": 0.05,
    }
    first = WorkerPool(
        store=first_store,  # type: ignore[arg-type]
        engines=_engines(blocked),
        worker_id="instance-a",
        concurrency=1,
        lease_seconds=LEASE_S,
        **common,
    )
    second = WorkerPool(
        store=second_store,
        engines=_engines(lambda turn: "ok"),
        worker_id="instance-b",
        lease_seconds=SECOND_LEASE_S,
        **common,
    )
    pools = [first, second]
    try:
        queued = await setup.create_run(
            Run(org_id="acme", suite_id="suite", trigger=Trigger.CI, webhook_url="http://hook.test")
        )
        assert queued.id is not None
        run_id = queued.id

        async def claimed_by_a() -> bool:
            run = await setup.get_run(run_id, include_items=False)
            return run is not None and run.lease_owner == "instance-a"

        await first.start()
        await _wait_until(claimed_by_a, within=10, what="instance-a claimed the run")
        await second.start()

        async def final() -> bool:
            run = await setup.get_run(run_id, include_items=False)
            return run is not None and run.status.is_final

        await _wait_until(final, within=30, what="instance-b finished the run")
        gate.set()  # the first instance's assistant answers at last

        async def first_idle() -> bool:
            return first.active_count == 0

        await _wait_until(first_idle, within=10, what="instance-a gave the run up")
        await asyncio.sleep(0.3)  # a write it should not make would land now
        done = await setup.get_run(run_id)
        assert done is not None
        assert done.attempts == 2, "instance-b re-claimed the run"
        assert done.status is RunStatus.PASSED
        assert sorted(i.test_id for i in done.items) == TESTS  # exactly one item per test
        assert done.totals.passed == len(TESTS) and done.totals.total == len(done.items)
        assert len(notifier.sent) == 1 and notifier.sent[0]["totals"]["passed"] == len(TESTS)
        return first_store, done
    finally:
        gate.set()
        for pool in pools:
            await pool.close()
        for store in (setup, first_store.inner, second_store):
            with contextlib.suppress(Exception):
                await store.aclose()


async def _hung_renewal(open_instance: Callable[[], Awaitable[RunStore]]) -> None:
    stalled, _ = await _stalled_first_instance(open_instance, "hang")
    # The renewal did not answer within lease/3: the first instance gave the run up before
    # its lease ran out, so it never wrote into the run again.
    assert stalled.writes == []


async def _lying_renewal(open_instance: Callable[[], Awaitable[RunStore]]) -> None:
    stalled, _ = await _stalled_first_instance(open_instance, "lie")
    # It believed it still held the run; the store refused its first write and it stopped
    # there: no further write, no finish, no webhook.
    assert stalled.writes, "the stalled instance should have tried to write"
    assert [outcome for _, outcome in stalled.writes].count("refused") == 1
    assert stalled.writes[-1][1] == "refused"
    assert ("finish_run", "stored") not in stalled.writes


# -- PostgreSQL -----------------------------------------------------------------------------


@pytest.fixture
def postgres_instances(postgres_dsn: str) -> Callable[[], Awaitable[RunStore]]:
    from lamdis_store_postgres import PostgresRunStore, create_pool

    async def open_instance() -> RunStore:
        return PostgresRunStore(await create_pool(postgres_dsn, max_size=4))

    return open_instance


@pytest.mark.postgres
async def test_postgres_a_hung_renewal_gives_the_run_up(
    postgres_instances: Callable[[], Awaitable[RunStore]],
) -> None:
    await _hung_renewal(postgres_instances)


@pytest.mark.postgres
async def test_postgres_a_stalled_instance_cannot_write_into_a_reclaimed_run(
    postgres_instances: Callable[[], Awaitable[RunStore]],
) -> None:
    await _lying_renewal(postgres_instances)


# -- FerretDB (the Mongo store) ---------------------------------------------------------------


@pytest.fixture
def mongo_instances(mongo_url: str) -> Callable[[], Awaitable[RunStore]]:
    from lamdis_store_mongo import open_store

    async def open_instance() -> RunStore:
        store, _ = await open_store({"MONGO_URL": mongo_url})
        return store

    return open_instance


@pytest.mark.mongo
async def test_ferretdb_a_hung_renewal_gives_the_run_up(
    mongo_instances: Callable[[], Awaitable[RunStore]],
) -> None:
    await _hung_renewal(mongo_instances)


@pytest.mark.mongo
async def test_ferretdb_a_stalled_instance_cannot_write_into_a_reclaimed_run(
    mongo_instances: Callable[[], Awaitable[RunStore]],
) -> None:
    await _lying_renewal(mongo_instances)


# -- a retried append reuses its key (item 7); two suites of one run stay apart (item 13) ------


class _FlakyAppends:
    """The store, except that appends go wrong once per item: ``mode="lost"`` writes and then
    fails as if the answer was lost; ``mode="failed"`` fails without writing."""

    def __init__(self, inner: RunStore, mode: str) -> None:
        self.inner = inner
        self.mode = mode
        self.failed_keys: set[str | None] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def append_item(self, run_id: str, item: Any, **kwargs: Any) -> None:
        key = kwargs.get("key")
        if key in self.failed_keys:
            await self.inner.append_item(run_id, item, **kwargs)
            return
        self.failed_keys.add(key)
        if self.mode == "lost":
            await self.inner.append_item(run_id, item, **kwargs)
        raise ConnectionResetError("connection reset before the answer arrived (injected)")


async def _run_once(store: RunStore, plans: Any) -> Run:
    pool = WorkerPool(
        store=store,
        engines=_engines(lambda turn: "ok"),
        plans=plans,
        notifier=_Notifier(),
        clock=SystemClock(),
        lease_seconds=30,
        poll_seconds=0.05,
    )
    queued = await store.create_run(Run(org_id="acme", suite_id="suite", trigger=Trigger.CI))
    assert queued.id is not None
    run_id = queued.id
    await pool.start()
    try:

        async def final() -> bool:
            run = await store.get_run(run_id, include_items=False)
            return run is not None and run.status.is_final

        await _wait_until(final, within=30, what="the run finished")
    finally:
        await pool.close()
    done = await store.get_run(run_id)
    assert done is not None
    return done


async def _retried_appends_are_stored_once(store: RunStore) -> None:
    flaky = _FlakyAppends(store, "lost")
    done = await _run_once(flaky, _OnePlan())  # type: ignore[arg-type]
    assert len(flaky.failed_keys) == len(TESTS), "every item's first append lost its answer"
    assert sorted(i.test_id for i in done.items) == TESTS
    assert done.totals.total == len(done.items) == len(TESTS)


@pytest.mark.postgres
async def test_postgres_a_retried_append_whose_answer_was_lost_is_stored_once(
    postgres_instances: Callable[[], Awaitable[RunStore]],
) -> None:
    store = await postgres_instances()
    try:
        await _retried_appends_are_stored_once(store)
    finally:
        await store.aclose()


@pytest.mark.mongo
async def test_ferretdb_a_retried_append_whose_answer_was_lost_is_stored_once(
    mongo_instances: Callable[[], Awaitable[RunStore]],
) -> None:
    store = await mongo_instances()
    try:
        await _retried_appends_are_stored_once(store)
    finally:
        await store.aclose()


class _TwoSuites:
    """JSON mode: two suites in one run, holding the same tests against the same assistant."""

    async def build(self, run: Run) -> list[SuitePlan]:
        return [SuitePlan("first", _plan()), SuitePlan("second", _plan())]


async def test_the_same_test_in_two_suites_of_one_run_is_recorded_for_each() -> None:
    from lamdis_core.testing.memory import InMemoryRunStore

    flaky = _FlakyAppends(InMemoryRunStore(), "failed")  # every first append fails: retried
    done = await _run_once(flaky, _TwoSuites())  # type: ignore[arg-type]
    assert len(flaky.failed_keys) == 2 * len(TESTS), "each suite's item has its own key"
    assert sorted(i.test_id for i in done.items) == sorted(TESTS * 2)
    assert done.totals.total == 2 * len(TESTS)


async def test_a_failing_renewal_gives_the_run_up_instead_of_being_swallowed() -> None:
    """A renewal that raises (after the store's own retries) is not a blip to log and ignore:
    the worker stops executing the run and finishes nothing; recovery then does its job."""
    from lamdis_core.testing.memory import InMemoryRunStore
    from structlog.testing import capture_logs

    class BrokenRenewals:
        def __init__(self, inner: RunStore) -> None:
            self.inner = inner
            self.finishes = 0

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        async def renew_lease(self, *args: Any, **kwargs: Any) -> bool:
            raise RuntimeError("database unavailable (injected)")

        async def finish_run(self, *args: Any, **kwargs: Any) -> None:
            self.finishes += 1
            await self.inner.finish_run(*args, **kwargs)

    gate = asyncio.Event()  # never set: the tests would run forever without the give-up

    async def blocked(turn: TurnRequest) -> str:
        await gate.wait()
        return "ok"

    store = BrokenRenewals(InMemoryRunStore())
    pool = WorkerPool(
        store=store,  # type: ignore[arg-type]
        engines=_engines(blocked),
        plans=_OnePlan(),
        notifier=_Notifier(),
        clock=SystemClock(),
        lease_seconds=LEASE_S,
        poll_seconds=0.05,
    )
    queued = await store.create_run(Run(org_id="acme", suite_id="suite"))
    assert queued.id is not None
    run_id = queued.id
    with capture_logs() as logs:
        await pool.start()
        try:

            async def final() -> bool:
                run = await store.get_run(run_id, include_items=False)
                return run is not None and run.status.is_final

            await _wait_until(final, within=15, what="recovery failed the run")
        finally:
            await pool.close()
    given_up = [e for e in logs if e["event"] == "run.given_up"]
    assert len(given_up) == 2  # the first claim and the one retry
    assert all("lease renewal failed" in e["reason"] for e in given_up)
    assert store.finishes == 0  # only recovery ended it
    done = await store.get_run(run_id)
    assert done is not None and done.status is RunStatus.FAILED and done.error == "interrupted"
