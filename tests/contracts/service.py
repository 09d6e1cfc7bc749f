"""The service layer's use cases, held against every store and catalog adapter.

A subclass gives ``stores``: a ``(RunStore, Catalog)`` pair on a fresh database. The tests call
:class:`lamdis_core.service.RunService` and :func:`lamdis_core.service.import_config_tree`
as an embedder would, with no web framework.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from lamdis_core.domain.errors import ConfigError
from lamdis_core.domain.results import (
    JudgeSummary,
    Run,
    RunStatus,
    Timings,
    Totals,
    Trigger,
    Usage,
)
from lamdis_core.ports.catalog import Catalog, CatalogKind
from lamdis_core.ports.store import Claim, RunFilter, RunStore
from lamdis_core.service import (
    LAST_PASSED,
    CatalogService,
    DocumentExistsError,
    InvalidDocumentError,
    InvalidRequestError,
    NoBaselineError,
    NotClaimedError,
    RunService,
    StartRequest,
    UnknownBaseRunError,
    UnknownDocumentError,
    UnknownEnvironmentError,
    UnknownRunError,
    UnknownSuiteError,
    UnknownTestsError,
    import_config_tree,
)
from lamdis_core.testing.fakes import FakeClock

from tests.contracts.store import finish, make_item
from tests.http._configs import write_config_tree

ORG = "acme"
Stores = tuple[RunStore, Catalog]


async def _imported(stores: Stores, tmp_path: Path) -> RunService:
    store, catalog = stores
    write_config_tree(tmp_path / "configs", "http://127.0.0.1:9")
    await import_config_tree(catalog, tmp_path / "configs", org_id=ORG, env={})
    return RunService(store, catalog, clock=FakeClock())


class RunServiceContract:
    """What :class:`RunService` and the import do, whichever adapters they are given."""

    @pytest.fixture
    async def stores(self) -> Any:
        raise NotImplementedError

    async def test_import_writes_the_tree_and_is_idempotent(
        self, stores: Stores, tmp_path: Path
    ) -> None:
        _, catalog = stores
        root = write_config_tree(tmp_path / "configs", "http://127.0.0.1:9")
        first = await import_config_tree(catalog, root, org_id=ORG, env={})
        second = await import_config_tree(catalog, root, org_id=ORG, env={})
        assert first == second
        assert first["suites"] >= 4 and first["environments"] == 2
        suite = await catalog.get(CatalogKind.SUITES, ORG, "smoke")
        assert suite is not None and suite["tests"]["includeFiles"] == ["smoke-tests"]
        assert len(await catalog.list(CatalogKind.SUITES, ORG)) == first["suites"]

    async def test_a_tree_with_errors_imports_nothing(self, stores: Stores, tmp_path: Path) -> None:
        _, catalog = stores
        root = write_config_tree(tmp_path / "configs", "http://127.0.0.1:9")
        (root / "tests" / "broken.json").write_text('{"tests": [', encoding="utf-8")
        with pytest.raises(ConfigError) as caught:
            await import_config_tree(catalog, root, org_id=ORG, env={})
        assert any("broken.json" in str(p.file) for p in caught.value.problems)
        assert await catalog.list(CatalogKind.SUITES, ORG) == []

    async def test_start_queues_the_run_as_asked(self, stores: Stores, tmp_path: Path) -> None:
        service = await _imported(stores, tmp_path)
        run = await service.start(
            StartRequest(
                suite_id="smoke",
                env_id="demo-b",
                trigger=Trigger.MANUAL,
                git_context={"sha": "abc"},
                tests=["greets"],
                seed=7,
                webhook_url="http://hooks.invalid/x",
            )
        )
        stored = await service.get(run.id)
        assert (stored.status, stored.org_id, stored.suite_id, stored.env_id) == (
            RunStatus.QUEUED,
            ORG,
            "smoke",
            "demo-b",
        )
        assert (stored.trigger, stored.git_context, stored.seed) == (
            Trigger.MANUAL,
            {"sha": "abc"},
            7,
        )
        assert stored.request == {"kind": "suite", "tests": ["greets"]}
        assert stored.webhook_url == "http://hooks.invalid/x"

    async def test_start_refuses_what_the_catalog_lacks_and_queues_nothing(
        self, stores: Stores, tmp_path: Path
    ) -> None:
        service = await _imported(stores, tmp_path)
        with pytest.raises(UnknownSuiteError, match="unknown suite 'nope' in organization 'acme'"):
            await service.start(StartRequest(suite_id="nope", org_id=ORG))
        with pytest.raises(UnknownSuiteError) as suite_error:
            await service.start(StartRequest(suite_id="smoke", org_id="other-org"))
        assert suite_error.value.field == "suiteId"
        with pytest.raises(UnknownEnvironmentError, match="'ghost' in organization 'acme'"):
            await service.start(StartRequest(suite_id="smoke", env_id="ghost"))
        with pytest.raises(UnknownTestsError) as tests_error:
            await service.start(StartRequest(suite_id="smoke", tests=["greets", "nope"]))
        assert tests_error.value.unknown == ("nope",)
        assert "greets" in tests_error.value.known
        assert tests_error.value.field == "tests"
        for bad in (
            StartRequest(suite_id="smoke", seed=-1),
            StartRequest(suite_id="smoke", seed=2**63),
            StartRequest(suite_id=" "),
            StartRequest(suite_id="smoke", tests=[""]),
        ):
            with pytest.raises(InvalidRequestError):
                await service.start(bad)
        assert await service.list() == []

    async def test_stop_get_and_list(self, stores: Stores, tmp_path: Path) -> None:
        service = await _imported(stores, tmp_path)
        first = await service.start(StartRequest(suite_id="smoke"))
        second = await service.start(StartRequest(suite_id="mixed", org_id=ORG))
        stopped = await service.stop(first.id)
        assert stopped.status is RunStatus.STOPPED and stopped.finished_at is not None
        again = await service.stop(first.id)
        assert again.finished_at == stopped.finished_at  # the first stop's instant is kept
        assert [r.id for r in await service.list()] == [second.id, first.id]
        assert [r.id for r in await service.list(RunFilter(status=RunStatus.QUEUED))] == [second.id]
        assert [r.id for r in await service.list(RunFilter(suite_id="smoke"))] == [first.id]
        assert [r.id for r in await service.list(RunFilter(limit=1))] == [second.id]
        assert await service.list(RunFilter(org_id="other-org")) == []
        assert (await service.get(second.id, include_items=False)).suite_id == "mixed"
        for limit in (0, 201):
            with pytest.raises(InvalidRequestError, match="limit"):
                await service.list(RunFilter(limit=limit))

    async def test_items_reads_a_page_of_a_runs_items(self, stores: Stores, tmp_path: Path) -> None:
        service = await _imported(stores, tmp_path)
        run = await service.start(StartRequest(suite_id="smoke"))
        for n in range(7):
            await stores[0].append_item(run.id, make_item(n))
        page = await service.items(run.id, offset=5, limit=3)
        assert (page.offset, page.total) == (5, 7)
        assert [i.test_id for i in page.items if i is not None] == ["test-5", "test-6"]
        assert [i.test_id for i in (await service.items(run.id)).items if i] == [
            f"test-{n}" for n in range(7)
        ]
        for offset, limit, field in ((-1, 3, "offset"), (0, 0, "limit"), (0, 501, "limit")):
            with pytest.raises(InvalidRequestError, match=field):
                await service.items(run.id, offset=offset, limit=limit)
        with pytest.raises(UnknownRunError, match="'nope'"):
            await service.items("nope")

    async def test_compare_with_the_last_passed_run_or_a_named_one(
        self, stores: Stores, tmp_path: Path
    ) -> None:
        service = await _imported(stores, tmp_path)
        store = stores[0]
        first = await service.start(StartRequest(suite_id="smoke"))
        with pytest.raises(NoBaselineError, match="no passed run of suite 'smoke'"):
            await service.compare(first.id, LAST_PASSED)
        second = await service.start(StartRequest(suite_id="smoke"))
        for run in (first, second):
            await store.finish_run(
                run.id,
                status=RunStatus.PASSED,
                totals=Totals(),
                judge=JudgeSummary(),
                usage=Usage(),
                finished_at=datetime.now(UTC),
            )
        base, new, diff = await service.compare(second.id, LAST_PASSED)
        assert (base.id, new.id) == (first.id, second.id)
        assert (diff.base, diff.new, diff.regressions) == (first.id, second.id, [])
        base, _, _ = await service.compare(first.id, second.id)
        assert base.id == second.id
        with pytest.raises(UnknownBaseRunError, match="unknown base run 'nope'"):
            await service.compare(first.id, "nope")
        with pytest.raises(UnknownRunError, match="unknown run 'nope'"):
            await service.compare("nope", first.id)

    async def test_pair_reads_a_run_and_its_base_with_their_items(
        self, stores: Stores, tmp_path: Path
    ) -> None:
        service = await _imported(stores, tmp_path)
        store = stores[0]
        first = await service.start(StartRequest(suite_id="smoke"))
        second = await service.start(StartRequest(suite_id="smoke"))
        claimed = await store.claim_next("w", now=datetime.now(UTC), lease_seconds=60)
        assert claimed is not None and claimed.id == first.id
        claim = Claim.of(claimed)
        await store.append_item(first.id, make_item(1), claim=claim)
        for run, status in ((first, RunStatus.PASSED), (second, RunStatus.FAILED)):
            await store.finish_run(
                run.id,
                status=status,
                totals=Totals(),
                judge=JudgeSummary(),
                usage=Usage(),
                finished_at=datetime.now(UTC),
                claim=claim if run is first else None,
            )
        third = await service.start(StartRequest(suite_id="smoke"))
        base, run = await service.pair(third.id)  # the previous run, whatever its status
        assert base is not None and (base.id, run.id) == (second.id, third.id)
        base, _ = await service.pair(third.id, LAST_PASSED)
        assert base is not None and base.id == first.id
        assert [item.test_id for item in base.items] == [make_item(1).test_id]
        base, run = await service.pair(first.id)  # nothing before the first run
        assert base is None and run.id == first.id and len(run.items) == 1
        base, _ = await service.pair(first.id, third.id)  # any run named
        assert base is not None and base.id == third.id
        with pytest.raises(UnknownBaseRunError, match="'nope'"):
            await service.pair(first.id, "nope")
        with pytest.raises(UnknownRunError, match="'nope'") as caught:
            await service.pair("nope", "nope-either")
        assert not isinstance(caught.value, UnknownBaseRunError)
        with pytest.raises(UnknownRunError, match="'nope'"):
            await service.pair("nope")

    async def test_suite_trends_cover_the_newest_finished_runs(
        self, stores: Stores, tmp_path: Path
    ) -> None:
        """A suite's trends: its newest finished runs (queued or running ones counted apart),
        their Trends from the store, and an unknown suite an error unless the catalog has
        it."""
        service = await _imported(stores, tmp_path)
        store = stores[0]
        started = [await service.start(StartRequest(suite_id="smoke")) for _ in range(4)]
        for run, status in zip(
            started[:3], (RunStatus.PASSED, RunStatus.FAILED, RunStatus.STOPPED), strict=True
        ):
            await store.append_item(run.id, make_item(1, timings=Timings.from_turns([40.0])))
            await finish(store, run.id, status)
        found = await service.suite_trends("smoke", runs=2)
        assert [r.id for r in found.runs] == [started[2].id, started[1].id]
        assert found.unfinished == 1
        assert found.trends == await store.trends([started[2].id, started[1].id])
        assert [(t.items, t.turns, t.p95_ms) for t in found.trends.runs] == [(1, 1, 40.0)] * 2
        assert (await service.suite_trends("smoke", env_id="elsewhere")).runs == ()
        empty = await service.suite_trends("matrix")  # in the catalog, never run
        assert (empty.runs, empty.unfinished, empty.trends.tests) == ((), 0, ())
        with pytest.raises(UnknownSuiteError, match="unknown suite 'nope'"):
            await service.suite_trends("nope")
        for runs in (0, 201):
            with pytest.raises(InvalidRequestError, match="runs"):
                await service.suite_trends("smoke", runs=runs)

    async def test_unknown_runs_are_errors_not_none(self, stores: Stores, tmp_path: Path) -> None:
        service = await _imported(stores, tmp_path)
        # A well-formed id of every store's spelling, and one no store issues.
        for run_id in ("0123456789abcdef01234567", "00000000-0000-0000-0000-000000000000", "x"):
            with pytest.raises(UnknownRunError, match=repr(run_id)):
                await service.get(run_id)
            with pytest.raises(UnknownRunError) as caught:
                await service.stop(run_id)
            assert caught.value.run_id == run_id

    async def test_a_claim_of_an_unclaimed_run_is_refused(
        self, stores: Stores, tmp_path: Path
    ) -> None:
        service = await _imported(stores, tmp_path)
        queued = await service.start(StartRequest(suite_id="smoke"))
        with pytest.raises(NotClaimedError, match="not claimed"):
            Claim.of(queued)
        with pytest.raises(NotClaimedError):
            Claim.of(Run(suite_id="smoke"))

    async def test_catalog_documents_are_checked_and_misuse_is_an_error(
        self, stores: Stores
    ) -> None:
        _, catalog = stores
        docs = CatalogService(catalog, clock=FakeClock())
        bot = {"id": "bots/a", "env": {"channel": "http_chat", "baseUrl": "http://bot.invalid"}}
        stored = await docs.create(CatalogKind.ENVIRONMENTS, ORG, bot)
        assert stored["id"] == "bots/a" and stored["orgId"] == ORG
        with pytest.raises(DocumentExistsError, match="already exists"):
            await docs.create(CatalogKind.ENVIRONMENTS, ORG, bot)
        with pytest.raises(InvalidDocumentError) as caught:
            await docs.create(CatalogKind.ENVIRONMENTS, ORG, {"id": "", "env": {"timeoutMs": "x"}})
        assert caught.value.issues[0].field == "id"
        assert len(caught.value.issues) >= 2  # every problem, not the first only
        patched = await docs.patch(
            CatalogKind.ENVIRONMENTS, ORG, "bots/a", {"name": "A", "env": {"timeoutMs": 900}}
        )
        assert patched["name"] == "A" and patched["env"]["baseUrl"] == "http://bot.invalid"
        with pytest.raises(InvalidDocumentError, match="cannot be changed"):
            await docs.patch(CatalogKind.ENVIRONMENTS, ORG, "bots/a", {"id": "b"})
        with pytest.raises(InvalidDocumentError, match="must match the id in the path"):
            await docs.put(CatalogKind.ENVIRONMENTS, ORG, "bots/a", {**bot, "id": "other"})
        assert [d["id"] for d in await docs.list(CatalogKind.ENVIRONMENTS, ORG)] == ["bots/a"]
        with pytest.raises(InvalidRequestError, match="limit"):
            await docs.list(CatalogKind.ENVIRONMENTS, ORG, limit=0)
        await docs.delete(CatalogKind.ENVIRONMENTS, ORG, "bots/a")
        for call in (
            docs.get(CatalogKind.ENVIRONMENTS, ORG, "bots/a"),
            docs.delete(CatalogKind.ENVIRONMENTS, ORG, "bots/a"),
            docs.patch(CatalogKind.ENVIRONMENTS, ORG, "bots/a", {"name": "B"}),
        ):
            with pytest.raises(UnknownDocumentError, match="unknown environments 'bots/a'"):
                await call
