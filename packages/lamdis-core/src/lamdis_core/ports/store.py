"""The RunStore port: run history and the queue of runs to execute."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

import attrs

from lamdis_core.domain.errors import LamdisError
from lamdis_core.domain.results import (
    Item,
    ItemStatus,
    JudgeSummary,
    Progress,
    Run,
    RunStatus,
    Totals,
    Trigger,
    Usage,
    WebhookDelivery,
    _percentile,
)

INTERRUPTED = "interrupted"
"""The error recorded on a run whose worker vanished and that may not be re-queued again."""


@attrs.frozen
class Claim:
    """A worker's hold on a run it claimed: the lease owner and the claim's generation.

    The generation is the run's ``attempts`` right after the claim, so every claim of a run
    has its own (a re-queued run claimed again, even by the same worker, gets a new one).
    """

    owner: str
    generation: int

    @classmethod
    def of(cls, run: Run) -> Claim:
        """The claim ``claim_next`` handed out with ``run``.

        Raises:
            NotClaimedError: ``run`` holds no lease (it was not handed out by ``claim_next``).
        """
        if run.lease_owner is None:
            raise NotClaimedError(run.id)
        return cls(owner=run.lease_owner, generation=run.attempts)


class NotClaimedError(LamdisError, ValueError):
    """A claim was asked of a run that holds no lease: only a run ``claim_next`` handed out
    may be executed and written for. (A ``ValueError`` too, as it was before it had a name.)"""

    def __init__(self, run_id: str | None) -> None:
        self.run_id = run_id
        super().__init__(
            f"run {run_id!r} has no lease owner: it was not claimed (take runs to execute "
            "with claim_next)"
        )


class LostClaimError(LamdisError):
    """The store refused a fenced write: the writer's claim on the run is no longer current.

    Another instance recovered the run (its lease expired), re-claimed it, stopped or
    finished it, or the run is gone. Nothing of the refused write was stored. A worker that
    gets this must stop executing the run at once and write nothing more for it.
    """

    def __init__(self, run_id: str, operation: str, claim: Claim) -> None:
        self.run_id = run_id
        self.operation = operation
        self.claim = claim
        super().__init__(
            f"{operation} refused for run {run_id}: the claim of {claim.owner!r} "
            f"(generation {claim.generation}) is no longer current"
        )


@attrs.frozen
class RunCursor:
    """A position in ``list_runs``' newest-first order: the ``created_at`` and ``id`` of a
    listed run. Paging from a cursor costs the same on the thousandth page as on the first,
    where an ``offset`` makes the store walk every run it leaves out."""

    created_at: datetime
    run_id: str

    @classmethod
    def of(cls, run: Run) -> RunCursor:
        """The cursor just past ``run`` (a run ``list_runs`` returned)."""
        if run.id is None or run.created_at is None:
            raise ValueError("a cursor needs a stored run (with id and created_at)")
        return cls(run.created_at, run.id)


@attrs.frozen(kw_only=True)
class RunFilter:
    """Which runs ``list_runs`` returns. ``None`` fields do not filter."""

    org_id: str | None = None
    suite_id: str | None = None
    status: RunStatus | None = None
    env_id: str | None = None
    trigger: Trigger | None = None
    branch: str | None = None
    """``gitContext.branch``, exactly."""
    commit: str | None = None
    """A prefix of the run's commit, so a short SHA finds it: ``gitContext.sha`` (the start
    body's key), or ``gitContext.commit`` when there is no ``sha``."""
    created_from: datetime | None = None
    """Runs created at or after this instant."""
    created_before: datetime | None = None
    """Runs created strictly before this instant."""
    limit: int = 20
    offset: int = 0
    """Runs to leave out before the first returned, in the same order (paging)."""
    before: RunCursor | None = None
    """Only runs older than this position (the next page: the last listed run's cursor)."""
    after: RunCursor | None = None
    """Only runs newer than this position, the ``limit`` nearest it, still newest first
    (the previous page: the first listed run's cursor). Not together with ``before``."""


@attrs.frozen(kw_only=True)
class ItemOutline:
    """A stored item without its transcript, checks and artifacts: what the suite page reads
    for many runs at once (outcome, judge score, per-turn latency)."""

    test_id: str
    test_name: str
    assistant: str
    status: ItemStatus
    repeat: int = 0
    judge_score: float | None = None
    per_turn_ms: tuple[float, ...] = ()

    @classmethod
    def of(cls, item: Item) -> ItemOutline:
        """The outline of a whole item."""
        return cls(
            test_id=item.test_id,
            test_name=item.test_name,
            assistant=item.assistant,
            status=item.status,
            repeat=item.repeat,
            judge_score=item.judge_score,
            per_turn_ms=tuple(item.timings.per_turn_ms),
        )


@attrs.frozen(kw_only=True)
class ItemPage:
    """A window of one run's items in append order, from ``get_items``: what a page showing
    some of a run's items reads, at a cost that follows the window, not the run.

    ``items[n]`` is the item at position ``offset + n`` of the run (0-based, counting every
    stored item), or ``None`` when its stored form cannot be read (``get_run`` leaves such an
    item out and names it in the run's ``error``). ``total`` counts every stored item,
    readable or not, so positions and page counts never shift around a damaged item.
    """

    offset: int
    total: int
    items: tuple[Item | None, ...] = ()

    def numbered(self) -> list[tuple[int, Item | None]]:
        """Each item of the window with its position in the run."""
        return list(enumerate(self.items, start=self.offset))

    @property
    def unreadable(self) -> tuple[int, ...]:
        """Positions in the run of the window's items that cannot be read."""
        return tuple(n for n, item in self.numbered() if item is None)


WORST_FIRST = (ItemStatus.ERROR, ItemStatus.FAILED, ItemStatus.PASSED, ItemStatus.SKIPPED)
"""Item statuses from worst to best: a test's outcome in a run is the worst of its repeats."""


def _nearest_rank_p95(ordered: list[float]) -> float | None:
    # The reports' rule (nearest rank), unrounded: callers round for display.
    return _percentile(ordered, 0.95) if ordered else None


@attrs.frozen(kw_only=True)
class RunTrend:
    """One run on a suite's trend: how many items it stored and the p95 (nearest rank) of
    every turn latency of every item, ``None`` without any."""

    run_id: str
    items: int
    turns: int
    p95_ms: float | None

    @classmethod
    def of(cls, run_id: str, outlines: Sequence[ItemOutline]) -> RunTrend:
        """The reference computation over one run's item outlines. A store keeps these
        figures on the run when it finishes (``finish_run``), so a trend reads run rows."""
        return cls.over(
            run_id,
            items=len(outlines),
            latencies=[ms for outline in outlines for ms in outline.per_turn_ms],
        )

    @classmethod
    def over(cls, run_id: str, *, items: int, latencies: Iterable[float]) -> RunTrend:
        """The figures of a run of ``items`` items whose turns took ``latencies``, in any
        order."""
        every = sorted(latencies)
        return cls(run_id=run_id, items=items, turns=len(every), p95_ms=_nearest_rank_p95(every))


@attrs.frozen(kw_only=True)
class TestTrend:
    """One test x assistant over the runs asked for.

    ``outcomes`` has one entry per run asked for, in the order asked: the worst status of the
    test's repeats in that run (error, then failed, passed, skipped), ``None`` when the run
    has no item of it. ``test_name`` is the name in the first run asked for that has it.
    Latencies are over every turn of every item of the test in those runs.
    """

    __test__ = False  # not a pytest class

    test_id: str
    assistant: str
    test_name: str
    outcomes: tuple[ItemStatus | None, ...]
    turns: int
    p95_ms: float | None
    avg_ms: float | None
    max_ms: float | None

    @classmethod
    def of(
        cls,
        key: tuple[str, str],
        *,
        test_name: str,
        outcomes: Iterable[ItemStatus | None],
        latencies: Iterable[float],
    ) -> TestTrend:
        """The figures of test x assistant ``key`` from its outcome in each run asked for
        (:func:`worst_status` of its items there) and every turn latency of its items, in any
        order: the one rule for every store."""
        values = sorted(latencies)
        return cls(
            test_id=key[0],
            assistant=key[1],
            test_name=test_name,
            outcomes=tuple(outcomes),
            turns=len(values),
            p95_ms=_nearest_rank_p95(values),
            avg_ms=sum(values) / len(values) if values else None,
            max_ms=values[-1] if values else None,
        )


def worst_status(statuses: Iterable[ItemStatus]) -> ItemStatus | None:
    """The worst of a test's repeats in one run (error, then failed, passed, skipped), or
    ``None`` without any."""
    seen = set(statuses)
    return next((s for s in WORST_FIRST if s in seen), None)


@attrs.frozen(kw_only=True)
class Trends:
    """What the suite page charts and ranks, for the runs asked for: ``runs`` in the order
    asked (an id asked for twice counts once; an unknown id gets a run of 0 items), ``tests``
    ordered by test id and assistant (code point order)."""

    runs: tuple[RunTrend, ...]
    tests: tuple[TestTrend, ...]

    @classmethod
    def of(cls, run_ids: Sequence[str], outlines: Mapping[str, Sequence[ItemOutline]]) -> Trends:
        """The reference computation, from each run's item outlines."""
        run_ids = list(dict.fromkeys(run_ids))  # an id asked for twice counts once
        position = {run_id: n for n, run_id in enumerate(run_ids)}
        runs = []
        statuses: dict[tuple[str, str], list[list[ItemStatus]]] = {}
        turns: dict[tuple[str, str], list[float]] = {}
        names: dict[tuple[str, str], str] = {}
        for run_id in run_ids:
            items = outlines.get(run_id, ())
            runs.append(RunTrend.of(run_id, items))
            for outline in items:
                key = (outline.test_id, outline.assistant)
                per_run = statuses.setdefault(key, [[] for _ in run_ids])
                per_run[position[run_id]].append(outline.status)
                turns.setdefault(key, []).extend(outline.per_turn_ms)
                names.setdefault(key, outline.test_name)
        tests = [
            TestTrend.of(
                key,
                test_name=names[key],
                outcomes=[worst_status(seen) for seen in statuses[key]],
                latencies=turns[key],
            )
            for key in sorted(statuses)
        ]
        return cls(runs=tuple(runs), tests=tuple(tests))

    def with_kept(self, kept: Mapping[str, RunTrend]) -> Trends:
        """These trends with the runs' figures that ``finish_run`` kept (by run id) in place
        of the computed ones."""
        return attrs.evolve(self, runs=tuple(kept.get(run.run_id, run) for run in self.runs))


class RunStore(Protocol):
    """Persists runs and hands queued runs to workers.

    Ids are strings the store chooses (Mongo: ObjectId hex). An id the store never issued, or
    one that is malformed for this store, is simply unknown: readers return ``None`` and
    writers return ``False``/``None`` — they never raise for it. Connection failures raise
    the adapter's own error after its retries; nothing reported as written is lost.

    Every method is safe to call concurrently, from several processes sharing one database.

    Fencing: the writes a worker makes for a run it claimed (``renew_lease``,
    ``update_progress``, ``append_item``, ``finish_run``) take the worker's ``claim``
    (:meth:`Claim.of` the claimed run). A claim is current while the run is ``running``, its
    ``lease_owner`` is ``claim.owner`` and its ``attempts`` is ``claim.generation``; the check
    and the write are one atomic step. A fenced write whose claim is not current stores
    nothing and raises :class:`LostClaimError` (``renew_lease`` returns ``False`` instead),
    also for an unknown run. An expired lease that no one has recovered yet is still current:
    recovery, not the clock, ends a claim. ``claim=None`` writes unfenced (a run executed
    in-process, without a claim; tools and tests). ``record_webhook`` is never fenced: it is
    written after the fenced ``finish_run`` made the run final, which no claim can change.
    """

    async def create_run(self, run: Run) -> Run:
        """Store a new run and return it with ``id`` and ``created_at`` set.

        The run is stored as given (normally ``queued``); its ``items`` are ignored.
        """
        ...

    async def get_run(self, run_id: str, *, include_items: bool = True) -> Run | None:
        """The run, with its items in the order they were appended, or ``None``."""
        ...

    async def get_items(self, run_id: str, *, offset: int, limit: int) -> ItemPage | None:
        """The run's items at positions ``offset`` to ``offset + limit - 1`` (0-based, in
        the order they were appended) and how many it has, or ``None`` for an unknown or
        malformed id.

        The cost follows ``limit``, not the run's size. A window past the last item is empty
        (``total`` still counts them); a negative ``offset`` counts as 0 and a ``limit`` below
        1 reads no item, only ``total``. The run's own row is not read: take it from
        ``get_run(run_id, include_items=False)``. An item whose stored form cannot be read
        is ``None`` in the window (never an exception), the others are read.
        """
        ...

    async def list_runs(self, run_filter: RunFilter) -> list[Run]:
        """Runs matching the filter, newest ``created_at`` first, without their items.

        Runs created at the same instant come in a fixed order of the store's choosing, the
        same for every call, so pages from cursors neither repeat nor skip a run. A cursor
        whose run is gone still pages by its instant (runs of exactly that instant are left
        out). ``before``/``after`` and ``offset`` combine (the offset counts from the cursor).
        """
        ...

    async def item_outlines(self, run_ids: Sequence[str]) -> dict[str, list[ItemOutline]]:
        """The outlines of the items of several runs, each run's in append order.

        Every id asked for is a key of the answer; an unknown or malformed id maps to an empty
        list. It reads only the outline's fields, so asking for 50 runs of 500 items costs far
        less than 50 ``get_run`` calls. An item whose stored form cannot be read is left out
        (``get_run`` names it in the run's ``error``).
        """
        ...

    async def trends(self, run_ids: Sequence[str]) -> Trends:
        """Per run and per test x assistant, the figures of :class:`Trends` over these runs'
        items: what ``Trends.of(run_ids, await item_outlines(run_ids))`` computes, which a
        database may compute where the items are, sending only the answer. An item that
        cannot be read counts as absent.

        A finished run's figures come from what ``finish_run`` kept (computed from its items
        when nothing was kept); the per-test figures always come from the items.
        """
        ...

    async def claim_next(
        self, worker_id: str, *, now: datetime, lease_seconds: float
    ) -> Run | None:
        """Atomically take the oldest queued run, or return ``None`` when there is none.

        The claimed run becomes ``running`` with ``lease_owner = worker_id``, a lease until
        ``now + lease_seconds``, ``attempts`` incremented and ``started_at`` set if unset.
        Two concurrent callers never receive the same run.
        """
        ...

    async def renew_lease(
        self,
        run_id: str,
        worker_id: str,
        *,
        now: datetime,
        lease_seconds: float,
        claim: Claim | None = None,
    ) -> bool:
        """Extend the lease; ``False`` when ``worker_id`` no longer holds it (or, with
        ``claim``, when that claim is no longer current)."""
        ...

    async def update_progress(
        self, run_id: str, progress: Progress, *, claim: Claim | None = None
    ) -> None:
        """Overwrite the run's progress (one small write; callers throttle it).

        Raises:
            LostClaimError: ``claim`` is given and no longer current.
        """
        ...

    async def append_item(
        self, run_id: str, item: Item, *, claim: Claim | None = None, key: str | None = None
    ) -> None:
        """Append one finished item. Durable when it returns; the cost does not grow with
        the number of items already stored.

        ``key`` makes the append idempotent: a second append with a key already stored for
        the run stores nothing (a caller retrying a write whose answer was lost passes the
        first attempt's key). Keys are short ASCII text; ``None`` means a fresh key.

        Raises:
            LostClaimError: ``claim`` is given and no longer current.
        """
        ...

    async def finish_run(
        self,
        run_id: str,
        *,
        status: RunStatus,
        totals: Totals,
        judge: JudgeSummary,
        usage: Usage,
        finished_at: datetime,
        error: str | None = None,
        claim: Claim | None = None,
        seed: int | None = None,
    ) -> None:
        """Record the final status and summary and release the lease; ``seed`` (when given)
        is the one the run's data generators drew from.

        It also keeps the run's :class:`RunTrend` figures (items, turns, p95 turn latency)
        with the run, so :meth:`trends` reads them instead of the run's items. An item
        appended after the finish (unfenced: tools, tests) makes the store compute them from
        the items again, as it does for a run finished before they were kept.

        Raises:
            LostClaimError: ``claim`` is given and no longer current.
        """
        ...

    async def request_stop(self, run_id: str, *, now: datetime) -> Run | None:
        """Ask a run to stop and return it (without items), or ``None`` if unknown.

        A queued run becomes ``stopped`` at once (``finished_at = now``); a running run gets
        ``stop_requested`` and its worker stops it within one turn; a finished run is
        returned unchanged. So the one call that stopped a queued run gets it back with
        ``finished_at == now``, and every later call sees the first call's instant (the
        service sends the stopped run's webhook from that one call only).
        """
        ...

    async def is_stop_requested(self, run_id: str) -> bool:
        """Whether a stop was requested (``False`` for an unknown run)."""
        ...

    async def recover_expired(self, *, now: datetime, max_attempts: int = 2) -> list[Run]:
        """Handle runs left ``running`` by a crashed worker (lease expired before ``now``).

        A run with ``attempts < max_attempts`` is re-queued (items and progress cleared,
        lease released); any other becomes ``failed`` with ``error = "interrupted"`` and
        ``finished_at = now``. Returns the runs changed, as they now are, without items.
        The caller sends the ``interrupted`` webhooks from that list, so a store that retries
        after a lost answer still returns the runs its first attempt changed.
        """
        ...

    async def record_webhook(self, run_id: str, delivery: WebhookDelivery) -> None:
        """Record the completion webhook's delivery outcome on the run."""
        ...

    async def aclose(self) -> None:
        """Release connections. The store is unusable afterwards."""
        ...
