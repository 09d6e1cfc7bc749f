"""Starting, stopping and reading runs: the use cases behind ``/internal/runs``.

:class:`RunService` works on any :class:`~lamdis_core.ports.store.RunStore` and
:class:`~lamdis_core.ports.catalog.Catalog`; with a :class:`~lamdis_core.service.WorkerPool`
of the same process it also wakes the pool for a new run and stops a run executing here
without waiting for the pool's next poll. Without one (a process that only queues, a CLI that
only reads) the runs wait for whichever worker shares the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from lamdis_core.config.loader import suite_test_ids
from lamdis_core.diff import RunDiff, RunSide, diff_runs
from lamdis_core.domain.results import Run, RunStatus, Trigger
from lamdis_core.ports.catalog import Catalog, CatalogKind
from lamdis_core.ports.clock import Clock, SystemClock
from lamdis_core.ports.store import ItemPage, RunFilter, RunStore, Trends
from lamdis_core.service._worker import WorkerPool
from lamdis_core.service.errors import (
    InvalidRequestError,
    NoBaselineError,
    ServiceError,
    UnknownBaseRunError,
    UnknownEnvironmentError,
    UnknownRunError,
    UnknownSuiteError,
    UnknownTestsError,
)
from lamdis_core.service.plans import run_documents
from lamdis_core.service.run_list import MAX_LIST_LIMIT, RunPage, page_of

MAX_SEED = 2**63 - 1
"""A start's ``seed`` fits PostgreSQL's bigint, like ``lamdis run --seed``."""

MAX_ITEMS_LIMIT = 500
"""The most items one :meth:`RunService.items` returns."""

LAST_PASSED = "last-passed"
"""The base of :meth:`RunService.compare` meaning the newest passed run before."""

TREND_RUNS = 50
"""The finished runs :meth:`RunService.suite_trends` covers by default."""

_SEARCH_LIMIT = 200
_UNFINISHED_ALLOWANCE = 20
"""Runs listed beyond those asked for, so a few queued or running ones do not shorten a trend."""
_UNFINISHED = frozenset({RunStatus.QUEUED, RunStatus.RUNNING})


@attrs.frozen(kw_only=True)
class StartRequest:
    """What to run: a catalog suite, optionally against one environment or some of its tests.

    Attributes:
        suite_id: the suite's id (or, on MongoDB, its ``_id``).
        org_id: the suite's organization; ``None`` looks the suite up in any organization
            and takes the organization from the suite document. A suite document with no
            ``orgId`` (written by another tool) is run in no organization: the run's
            ``org_id`` is ``None`` and its documents are read by id from any organization.
        env_id: one environment of the organization to run against; ``None`` runs the
            suite's own assistants.
        tests: only these test ids (a test's or a test document's); empty runs them all.
        seed: the data generators' seed (``0`` to ``2**63 - 1``); ``None`` lets the worker
            pick one and record it.
        webhook_url: where the completion notification goes.
    """

    suite_id: str
    org_id: str | None = None
    env_id: str | None = None
    trigger: Trigger = Trigger.CI
    git_context: Mapping[str, Any] = attrs.field(factory=dict)
    webhook_url: str | None = None
    tests: Sequence[str] = ()
    seed: int | None = None


@attrs.frozen(kw_only=True)
class SuiteTrends:
    """A suite's newest finished runs and their :class:`~lamdis_core.ports.store.Trends`.

    Attributes:
        runs: the finished runs (any final status), newest first, without items.
        trends: over ``runs``, in that order.
        unfinished: queued or running runs among the suite's newest (left out of ``runs``).
    """

    runs: tuple[Run, ...]
    trends: Trends
    unfinished: int


class RunService:
    """Start, stop, read and list runs.

    Args:
        store: where runs are queued and recorded.
        catalog: where suites, environments and tests are looked up.
        clock: the time a stop is recorded at.
        worker: this process's worker pool, if it has one.
    """

    def __init__(
        self,
        store: RunStore,
        catalog: Catalog,
        *,
        clock: Clock | None = None,
        worker: WorkerPool | None = None,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.clock = clock or SystemClock()
        self.worker = worker

    async def start(self, request: StartRequest) -> Run:
        """Check the request against the catalog and queue the run.

        Returns:
            The queued run, with its id.

        Raises:
            InvalidRequestError: a value is out of range (``seed``, an empty ``suite_id``).
            UnknownSuiteError / UnknownEnvironmentError / UnknownTestsError: the catalog
                holds no such suite, environment, or tests of the suite. Nothing is queued.
        """
        _check_start(request)
        suite = await self.catalog.get(CatalogKind.SUITES, request.org_id, request.suite_id)
        if suite is None:
            raise UnknownSuiteError(request.suite_id, request.org_id)
        org_id = request.org_id or _org_of(suite)
        if request.env_id is not None:
            found = await self.catalog.get(CatalogKind.ENVIRONMENTS, org_id, request.env_id)
            if found is None:
                raise UnknownEnvironmentError(request.env_id, org_id)
        tests = list(dict.fromkeys(request.tests))
        if tests:
            known = await suite_test_ids(suite, run_documents(self.catalog, org_id))
            unknown = [t for t in tests if t not in known]
            if unknown:
                raise UnknownTestsError(unknown, request.suite_id, sorted(known))
        run = Run(
            org_id=org_id,
            suite_id=request.suite_id,
            env_id=request.env_id,
            trigger=request.trigger,
            git_context=dict(request.git_context),
            status=RunStatus.QUEUED,
            webhook_url=request.webhook_url,
            request={"kind": "suite", "tests": list(request.tests)},
            seed=request.seed,
        )
        created = await self.store.create_run(run)
        if self.worker is not None:
            self.worker.wake()
        return created

    async def queue(self, run: Run) -> Run:
        """Queue a run the caller planned itself (``lamdis serve``'s file and JSON modes,
        whose plans come from files under its config root rather than from the catalog).

        Raises:
            InvalidRequestError: ``run`` is not ``queued`` or already has an id.
        """
        if run.status is not RunStatus.QUEUED or run.id is not None:
            raise InvalidRequestError(
                "run", f"expected a new queued run, got status {run.status} and id {run.id!r}"
            )
        created = await self.store.create_run(run)
        if self.worker is not None:
            self.worker.wake()
        return created

    async def wait(self, run_id: str, *, timeout: float) -> Run:  # noqa: ASYNC109  # a deadline across store polls
        """The run once final, or as it is when ``timeout`` seconds have passed (without
        items). Needs this process's worker pool, which tells when a run here finishes.

        Raises:
            UnknownRunError: the store holds no such run.
            ServiceError: the service was made without a worker pool.
        """
        if self.worker is None:
            raise ServiceError("waiting for a run needs the worker pool (RunService(worker=...))")
        run = await self.worker.wait_for(run_id, timeout=timeout)
        if run is None:
            raise UnknownRunError(run_id)
        return run

    async def stop(self, run_id: str) -> Run:
        """Ask the run to stop and return it (without items).

        A queued run is ``stopped`` at once (and its webhook sent, by this one call); a
        running run gets ``stop_requested`` and its worker, here or on another instance,
        stops it within a turn; a finished run is returned unchanged.

        Raises:
            UnknownRunError: the store holds no such run.
        """
        now = self.clock.now()
        run = await self.store.request_stop(run_id, now=now)
        if run is None:
            raise UnknownRunError(run_id)
        if self.worker is not None:
            # Same instance: stop now rather than at the next poll; others poll the store.
            self.worker.signal_stop(run_id)
            if run.status is RunStatus.STOPPED and run.started_at is None:
                self.worker.notify_stopped_while_queued(run, stopped_at=now)
        return run

    async def get(self, run_id: str, *, include_items: bool = True) -> Run:
        """The run, with its items unless ``include_items`` is false.

        Raises:
            UnknownRunError: the store holds no such run.
        """
        run = await self.store.get_run(run_id, include_items=include_items)
        if run is None:
            raise UnknownRunError(run_id)
        return run

    async def items(self, run_id: str, *, offset: int = 0, limit: int = 100) -> ItemPage:
        """The run's items at positions ``offset`` to ``offset + limit - 1`` (0-based, in
        the order they finished) and how many it has stored; an item that cannot be read is
        ``None`` in the page. Reads only those items, not the whole run.

        Raises:
            InvalidRequestError: ``offset`` is negative or ``limit`` is not from 1 to
                :data:`MAX_ITEMS_LIMIT`.
            UnknownRunError: the store holds no such run.
        """
        if not 1 <= limit <= MAX_ITEMS_LIMIT:
            raise InvalidRequestError("limit", f"expected an integer from 1 to {MAX_ITEMS_LIMIT}")
        if offset < 0:
            raise InvalidRequestError("offset", "expected an integer of 0 or more")
        page = await self.store.get_items(run_id, offset=offset, limit=limit)
        if page is None:
            raise UnknownRunError(run_id)
        return page

    async def compare(self, run_id: str, base: str) -> tuple[Run, Run, RunDiff]:
        """What changed in run ``run_id`` since ``base``: a run id, or :data:`LAST_PASSED`
        (the newest passed run of the same suite and environment before it).

        Returns:
            The base run and the run (with items), and their :class:`RunDiff`.

        Raises:
            UnknownRunError: no run ``run_id``; UnknownBaseRunError: no run ``base``;
            NoBaselineError: ``last-passed`` found none.
        """
        found, run = await self.pair(run_id, base)
        if found is None:
            raise NoBaselineError(run_id, run.suite_id, run.env_id)
        return found, run, diff_runs(run_side(found), run_side(run))

    async def pair(self, run_id: str, base: str | None = None) -> tuple[Run | None, Run]:
        """Run ``run_id`` and the run to compare it with, both with their items: run
        ``base``; for :data:`LAST_PASSED` the newest passed run of the same suite and
        environment before it; without ``base`` the newest such run of any status.

        Returns:
            The base run, ``None`` when none was found before the run, and the run.

        Raises:
            UnknownRunError: no run ``run_id``; UnknownBaseRunError: no run ``base``.
        """
        run = await self.get(run_id)
        if base is None or base == LAST_PASSED:
            status = RunStatus.PASSED if base == LAST_PASSED else None
            return await previous_run(self.store, run, status=status), run
        found = await self.store.get_run(base, include_items=True)
        if found is None:
            raise UnknownBaseRunError(base)
        return found, run

    async def list(self, run_filter: RunFilter | None = None) -> list[Run]:
        """Runs matching ``run_filter`` (default: the 20 newest), newest first, without items.

        Raises:
            InvalidRequestError: ``limit`` is not from 1 to :data:`MAX_LIST_LIMIT`, or
                ``offset`` is negative.
        """
        return await self.store.list_runs(_checked(run_filter or RunFilter()))

    async def page(self, run_filter: RunFilter | None = None) -> RunPage:
        """Like :meth:`list`, with where the older and newer pages start (``before`` and
        ``after`` cursors), for a list that pages by position rather than by offset.

        Raises:
            InvalidRequestError: as :meth:`list`.
        """
        run_filter = _checked(run_filter or RunFilter())
        # One run more than the page says whether another page follows on the side walked.
        extra = attrs.evolve(run_filter, limit=run_filter.limit + 1)
        return page_of(await self.store.list_runs(extra), run_filter)

    async def suite_trends(
        self, suite_id: str, *, env_id: str | None = None, runs: int = TREND_RUNS
    ) -> SuiteTrends:
        """The trends over the suite's newest ``runs`` finished runs (in ``env_id`` only,
        when given): one run list and one :meth:`RunStore.trends` read, never whole items.

        Raises:
            InvalidRequestError: ``runs`` is not from 1 to :data:`MAX_LIST_LIMIT`.
            UnknownSuiteError: the suite has no run (there) and the catalog no such suite.
        """
        if not 1 <= runs <= MAX_LIST_LIMIT:
            raise InvalidRequestError("runs", f"expected an integer from 1 to {MAX_LIST_LIMIT}")
        listed = await self.store.list_runs(
            RunFilter(
                suite_id=suite_id,
                env_id=env_id,
                limit=min(runs + _UNFINISHED_ALLOWANCE, MAX_LIST_LIMIT),
            )
        )
        if not listed and await self.catalog.get(CatalogKind.SUITES, None, suite_id) is None:
            raise UnknownSuiteError(suite_id, None)
        finished = [run for run in listed if run.status not in _UNFINISHED][:runs]
        trends = await self.store.trends([run.id for run in finished if run.id is not None])
        return SuiteTrends(
            runs=tuple(finished),
            trends=trends,
            unfinished=sum(1 for run in listed if run.status in _UNFINISHED),
        )


def _checked(run_filter: RunFilter) -> RunFilter:
    if not 1 <= run_filter.limit <= MAX_LIST_LIMIT:
        raise InvalidRequestError("limit", f"expected an integer from 1 to {MAX_LIST_LIMIT}")
    if run_filter.offset < 0:
        raise InvalidRequestError("offset", "expected an integer of 0 or more")
    return run_filter


def run_side(run: Run) -> RunSide:
    """A stored run as one side of a diff."""
    return RunSide(
        label=run.id or "",
        items=list(run.items),
        suite_id=run.suite_id,
        status=run.status.value,
    )


async def previous_run(store: RunStore, run: Run, *, status: RunStatus | None = None) -> Run | None:
    """The newest run of ``run``'s suite and environment before it (of ``status``, when
    given), with its items; ``None`` when none is among the suite's newest 200 runs."""
    candidates = await store.list_runs(
        RunFilter(org_id=run.org_id, suite_id=run.suite_id, status=status, limit=_SEARCH_LIMIT)
    )
    for candidate in candidates:  # newest first
        if candidate.id == run.id or candidate.env_id != run.env_id:
            continue
        if run.created_at and candidate.created_at and candidate.created_at > run.created_at:
            continue
        assert candidate.id is not None
        return await store.get_run(candidate.id, include_items=True)
    return None


def _check_start(request: StartRequest) -> None:
    if not isinstance(request.suite_id, str) or not request.suite_id.strip():
        raise InvalidRequestError("suiteId", "a non-empty suite id is required")
    seed = request.seed
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED
    ):
        raise InvalidRequestError("seed", f"expected an integer from 0 to {MAX_SEED}")
    if not isinstance(request.trigger, Trigger):
        choices = ", ".join(t.value for t in Trigger)
        raise InvalidRequestError("trigger", f"expected one of {choices}")
    bad = [t for t in request.tests if not isinstance(t, str) or not t]
    if bad or isinstance(request.tests, str):
        raise InvalidRequestError("tests", "expected a list of non-empty test ids")


def _org_of(suite: Mapping[str, Any]) -> str | None:
    # A suite another tool wrote may carry no orgId: the run then belongs to no organization
    # (its documents are found by id in any), rather than to one named "None".
    org = suite.get("orgId")
    return str(org) if org else None
