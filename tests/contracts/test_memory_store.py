"""The in-memory reference store holds the shared store contracts, and the guard works."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from lamdis_core.domain.errors import ConfigError
from lamdis_core.domain.results import JudgeSummary, RunStatus, Totals, Usage
from lamdis_core.ports.catalog import CatalogKind
from lamdis_core.ports.store import RunFilter
from lamdis_core.testing import InMemoryCatalog, InMemoryRunStore, open_memory_store

from tests.contracts.store import (
    CatalogContract,
    RunStoreContract,
    contract_override,
    contract_violations,
    make_run,
)


class TestInMemoryRunStore(RunStoreContract):
    @pytest.fixture
    async def store(self) -> AsyncIterator[InMemoryRunStore]:
        store = InMemoryRunStore()
        yield store
        await store.aclose()


class TestInMemoryCatalog(CatalogContract):
    @pytest.fixture
    def catalog(self) -> InMemoryCatalog:
        return InMemoryCatalog()


class _CountingIds:
    def __init__(self, prefix: str = "run-") -> None:
        self._n = itertools.count(1)
        self._prefix = prefix

    def new_id(self) -> str:
        return f"{self._prefix}{next(self._n)}"


class _FixedClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def monotonic(self) -> float:
        return 0.0

    async def sleep(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


async def test_memory_store_uses_the_id_factory_and_clock() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    store = InMemoryRunStore(ids=_CountingIds(), clock=_FixedClock(at))
    first, second = await store.create_run(make_run()), await store.create_run(make_run())
    assert (first.id, second.id) == ("run-1", "run-2")
    assert first.created_at == at


async def test_memory_store_refuses_a_repeating_id_factory() -> None:
    class Same:
        def new_id(self) -> str:
            return "dup"

    store = InMemoryRunStore(ids=Same())
    await store.create_run(make_run())
    with pytest.raises(ValueError, match="'dup' twice"):
        await store.create_run(make_run())


async def test_memory_catalog_timestamps_come_from_the_clock() -> None:
    clock = _FixedClock(datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=UTC))
    catalog = InMemoryCatalog(clock=clock)
    first = await catalog.upsert(CatalogKind.SUITES, "o", {"id": "s"})
    await clock.sleep(60)
    second = await catalog.upsert(CatalogKind.SUITES, "o", {"id": "s"})
    assert first["createdAt"] == "2026-01-02T03:04:05.600000Z"
    assert second["createdAt"] == first["createdAt"]
    assert second["updatedAt"] == "2026-01-02T03:05:05.600000Z"


async def test_closed_memory_store_says_so() -> None:
    store = InMemoryRunStore()
    await store.aclose()
    with pytest.raises(RuntimeError, match="aclose"):
        await store.get_run("x")


async def test_open_memory_store_returns_a_fresh_pair() -> None:
    store, catalog = await open_memory_store({})
    assert isinstance(store, InMemoryRunStore)
    assert isinstance(catalog, InMemoryCatalog)
    other, _ = await open_memory_store({})
    await store.create_run(make_run())
    assert await other.list_runs(RunFilter()) == []


async def _finish(store: InMemoryRunStore, run_id: str | None) -> None:
    assert run_id is not None
    await store.finish_run(
        run_id,
        status=RunStatus.PASSED,
        totals=Totals(passed=1),
        judge=JudgeSummary(),
        usage=Usage(),
        finished_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


async def test_the_memory_store_keeps_a_bounded_history_dropping_oldest_finished_runs() -> None:
    """Issue 16: a long-lived local server grew with every run. Past ``history`` runs the
    oldest finished ones go; queued and running runs are never dropped."""
    store = InMemoryRunStore(ids=_CountingIds(), history=3)
    runs = [await store.create_run(make_run()) for _ in range(3)]
    await _finish(store, runs[0].id)
    await _finish(store, runs[1].id)
    runs.append(await store.create_run(make_run()))  # run-4: run-1 goes
    assert await store.get_run("run-1") is None
    runs.append(await store.create_run(make_run()))  # run-5: run-2 goes
    assert await store.get_run("run-2") is None
    runs.append(await store.create_run(make_run()))  # run-6: nothing finished to drop
    listed = [r.id for r in await store.list_runs(RunFilter(limit=100))]
    assert listed == ["run-6", "run-5", "run-4", "run-3"]
    await _finish(store, "run-4")
    await store.create_run(make_run())  # run-7: the oldest finished is run-4, not run-3
    listed = [r.id for r in await store.list_runs(RunFilter(limit=100))]
    assert listed == ["run-7", "run-6", "run-5", "run-3"]


async def test_the_local_store_history_comes_from_the_environment() -> None:
    store, _ = await open_memory_store({"LAMDIS_LOCAL_RUN_HISTORY": "2"})
    ids = []
    for _ in range(4):
        run = await store.create_run(make_run())
        await _finish(store, run.id)
        ids.append(run.id)
    assert [r.id for r in await store.list_runs(RunFilter(limit=100))] == ids[:1:-1]
    default, _ = await open_memory_store({})
    assert default._history == 1000
    for bad in ("0", "many", "-3"):
        with pytest.raises(ConfigError, match="LAMDIS_LOCAL_RUN_HISTORY"):
            await open_memory_store({"LAMDIS_LOCAL_RUN_HISTORY": bad})


# -- the guard against weakening a contract -----------------------------------------------


def test_guard_accepts_a_faithful_subclass() -> None:
    assert contract_violations(TestInMemoryRunStore, RunStoreContract) == []
    assert contract_violations(TestInMemoryCatalog, CatalogContract) == []


def test_guard_flags_a_silently_overridden_test() -> None:
    class Weakened(RunStoreContract):
        async def test_claim_next_takes_oldest_queued(self, store: InMemoryRunStore) -> None:
            """Looks the same, checks nothing."""

    problems = contract_violations(Weakened, RunStoreContract)
    assert len(problems) == 1
    assert "test_claim_next_takes_oldest_queued is overridden" in problems[0]


def test_guard_flags_a_deleted_test() -> None:
    class Trimmed(CatalogContract):
        test_list_honours_limit = None  # type: ignore[assignment]

    assert contract_violations(Trimmed, CatalogContract) == [
        "test_list_honours_limit was deleted; every contract test must run"
    ]


def test_guard_accepts_an_override_that_gives_a_reason() -> None:
    class Declared(CatalogContract):
        @contract_override("this backend orders ids by collation, tested separately")
        async def test_list_is_ordered_by_id_and_scoped(self, catalog: InMemoryCatalog) -> None:
            """Different body, but declared."""

    class XFailed(CatalogContract):
        @pytest.mark.xfail(reason="known gap, tracked")
        async def test_list_honours_limit(self, catalog: InMemoryCatalog) -> None:
            """Different body, but marked."""

    assert contract_violations(Declared, CatalogContract) == []
    assert contract_violations(XFailed, CatalogContract) == []


def test_guard_accepts_an_identical_redefinition() -> None:
    class Same(CatalogContract):
        test_list_honours_limit = CatalogContract.test_list_honours_limit

    assert contract_violations(Same, CatalogContract) == []


def test_guard_test_itself_cannot_be_overridden() -> None:
    with pytest.raises(TypeError, match="may not override test_no_silent_overrides"):

        class Sneaky(RunStoreContract):
            def test_no_silent_overrides_DO_NOT_OVERRIDE(self) -> None:
                pass


def test_contract_override_needs_a_reason() -> None:
    with pytest.raises(ValueError, match="reason"):
        contract_override("  ")
