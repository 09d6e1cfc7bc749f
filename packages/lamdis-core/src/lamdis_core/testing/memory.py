"""In-memory reference implementations of the RunStore and Catalog ports.

They hold the same contract suites as the database adapters (``tests/contracts/store.py``),
so they are safe to stand in for PostgreSQL or MongoDB in tests and in local mode. Nothing is
persisted: the state lives as long as the object.

Concurrency: every method does its read-modify-write without awaiting in between, so calls
from many tasks on one event loop never interleave inside an operation (a claim is atomic).
The stores are not meant to be shared between threads or processes.

Everything is deep-copied on the way in and on the way out: a caller that mutates a run or a
document it passed in, or got back, never changes what is stored.
"""

from __future__ import annotations

import builtins
import copy
import enum
import itertools
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import attrs

from lamdis_core.domain.results import (
    Item,
    JudgeSummary,
    Progress,
    Run,
    RunStatus,
    Totals,
    Usage,
    WebhookDelivery,
)
from lamdis_core.logs import get_logger
from lamdis_core.ports.catalog import CatalogKind
from lamdis_core.ports.clock import Clock, IdFactory, SystemClock, UuidIdFactory
from lamdis_core.ports.store import (
    INTERRUPTED,
    Claim,
    ItemOutline,
    ItemPage,
    LostClaimError,
    RunCursor,
    RunFilter,
    RunTrend,
    Trends,
)
from lamdis_core.sanitize import clean_item, clean_text
from lamdis_core.settings import env_int

__all__ = ["InMemoryCatalog", "InMemoryRunStore", "open_memory_store"]

HISTORY_VARIABLE = "LAMDIS_LOCAL_RUN_HISTORY"
DEFAULT_HISTORY = 1000
"""Runs the local store of ``lamdis serve`` keeps by default."""

logger = get_logger()


@attrs.define
class _Slot:
    """A stored run plus what the store needs to order it."""

    run: Run
    seq: int
    item_keys: set[str] = attrs.Factory(set)
    figures: RunTrend | None = None
    """The run's trend figures, kept by finish_run as the database stores keep them."""


class InMemoryRunStore:
    """A RunStore kept in a dict. Ids come from ``ids`` (uuid hex by default).

    Args:
        ids: makes run ids; pass a deterministic factory in tests.
        clock: supplies ``created_at`` when a run arrives without one.
        history: at most this many runs are kept (``None``: no limit). When a new run would
            pass it, the oldest finished runs are dropped; queued and running runs never
            are, so a long-lived local server stays bounded without losing work.
    """

    def __init__(
        self,
        *,
        ids: IdFactory | None = None,
        clock: Clock | None = None,
        history: int | None = None,
    ) -> None:
        if history is not None and history < 1:
            raise ValueError(f"history must be at least 1 run, got {history}")
        self._ids = ids or UuidIdFactory()
        self._clock = clock or SystemClock()
        self._history = history
        self._runs: dict[str, _Slot] = {}
        self._seq = itertools.count()
        self._closed = False

    async def create_run(self, run: Run) -> Run:
        self._check_open()
        stored = _copy_run(run, include_items=False)
        stored.id = self._new_unique_id()
        if stored.created_at is None:
            stored.created_at = self._clock.now()
        self._runs[stored.id] = _Slot(stored, next(self._seq))
        self._forget_oldest_finished()
        return _copy_run(stored, include_items=False)

    async def get_run(self, run_id: str, *, include_items: bool = True) -> Run | None:
        self._check_open()
        slot = self._slot(run_id)
        if slot is None:
            return None
        return _copy_run(slot.run, include_items=include_items)

    async def get_items(self, run_id: str, *, offset: int, limit: int) -> ItemPage | None:
        self._check_open()
        slot = self._slot(run_id)
        if slot is None:
            return None
        offset = max(offset, 0)
        window = slot.run.items[offset : offset + max(limit, 0)]
        return ItemPage(
            offset=offset,
            total=len(slot.run.items),
            items=tuple(cast(Item, _tree_copy(item)) for item in window),
        )

    async def list_runs(self, run_filter: RunFilter) -> list[Run]:
        self._check_open()
        f = run_filter
        chosen = [slot for slot in self._runs.values() if _matches(slot.run, f)]
        if f.before is not None:
            bound = self._cursor_key(f.before, ties_after=False)
            chosen = [slot for slot in chosen if _oldest_first_key(slot) < bound]
        if f.after is not None:
            bound = self._cursor_key(f.after, ties_after=True)
            chosen = [slot for slot in chosen if _oldest_first_key(slot) > bound]
        # ``after`` takes the runs nearest the cursor: walk oldest first, then turn around.
        chosen.sort(key=_oldest_first_key, reverse=f.after is None)
        start = max(f.offset, 0)
        page = chosen[start : start + max(f.limit, 0)]
        if f.after is not None:
            page.reverse()
        return [_copy_run(slot.run, include_items=False) for slot in page]

    def _cursor_key(self, cursor: RunCursor, *, ties_after: bool) -> tuple[datetime, float]:
        slot = self._runs.get(cursor.run_id)
        # A run no longer kept: every run of its instant falls outside the bound.
        seq: float = (
            slot.seq
            if slot is not None and slot.run.created_at == cursor.created_at
            else (math.inf if ties_after else -1)
        )
        return (_aware(cursor.created_at), seq)

    async def item_outlines(self, run_ids: Sequence[str]) -> dict[str, list[ItemOutline]]:
        self._check_open()
        answer: dict[str, list[ItemOutline]] = {}
        for run_id in run_ids:
            slot = self._slot(run_id)
            answer[run_id] = [] if slot is None else [ItemOutline.of(i) for i in slot.run.items]
        return answer

    async def trends(self, run_ids: Sequence[str]) -> Trends:
        computed = Trends.of(run_ids, await self.item_outlines(run_ids))
        slots = [(run_id, self._slot(run_id)) for run_id in run_ids]
        return computed.with_kept(
            {run_id: slot.figures for run_id, slot in slots if slot and slot.figures}
        )

    async def claim_next(
        self, worker_id: str, *, now: datetime, lease_seconds: float
    ) -> Run | None:
        self._check_open()
        queued = [slot for slot in self._runs.values() if slot.run.status is RunStatus.QUEUED]
        if not queued:
            return None
        slot = min(queued, key=_oldest_first_key)
        run = slot.run
        run.status = RunStatus.RUNNING
        run.lease_owner = worker_id
        run.lease_expires_at = now + timedelta(seconds=lease_seconds)
        run.attempts += 1
        if run.started_at is None:
            run.started_at = now
        return _copy_run(run, include_items=True)

    async def renew_lease(
        self,
        run_id: str,
        worker_id: str,
        *,
        now: datetime,
        lease_seconds: float,
        claim: Claim | None = None,
    ) -> bool:
        self._check_open()
        slot = self._slot(run_id)
        if (
            slot is None
            or slot.run.status is not RunStatus.RUNNING
            or slot.run.lease_owner != worker_id
            or (claim is not None and not _holds(slot.run, claim))
        ):
            return False
        slot.run.lease_expires_at = now + timedelta(seconds=lease_seconds)
        return True

    async def update_progress(
        self, run_id: str, progress: Progress, *, claim: Claim | None = None
    ) -> None:
        self._check_open()
        slot = self._fenced(run_id, claim, "update_progress")
        if slot is not None:
            slot.run.progress = copy.deepcopy(progress)

    async def append_item(
        self, run_id: str, item: Item, *, claim: Claim | None = None, key: str | None = None
    ) -> None:
        self._check_open()
        slot = self._fenced(run_id, claim, "append_item")
        if slot is None:
            logger.warning("store.append_item.unknown_run", run_id=run_id)
            return
        if key is not None:
            if key in slot.item_keys:
                return
            slot.item_keys.add(key)
        slot.run.items.append(clean_item(item))  # a copy, cleaned as every store does
        slot.figures = None  # appended after the finish: computed from the items again

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
        self._check_open()
        slot = self._fenced(run_id, claim, "finish_run")
        if slot is None:
            return
        run = slot.run
        if seed is not None:
            run.seed = seed
        run.status = status
        run.totals = copy.deepcopy(totals)
        run.judge = copy.deepcopy(judge)
        run.usage = copy.deepcopy(usage)
        run.finished_at = finished_at
        run.error = clean_text(error) if error is not None else None
        run.lease_owner = None
        run.lease_expires_at = None
        slot.figures = RunTrend.of(run_id, [ItemOutline.of(i) for i in run.items])

    async def request_stop(self, run_id: str, *, now: datetime) -> Run | None:
        self._check_open()
        slot = self._slot(run_id)
        if slot is None:
            return None
        run = slot.run
        if run.status is RunStatus.QUEUED:
            run.status = RunStatus.STOPPED
            run.finished_at = now
            run.stop_requested = True
        elif run.status is RunStatus.RUNNING:
            run.stop_requested = True
        return _copy_run(run, include_items=False)

    async def is_stop_requested(self, run_id: str) -> bool:
        self._check_open()
        slot = self._slot(run_id)
        return slot is not None and slot.run.stop_requested

    async def recover_expired(self, *, now: datetime, max_attempts: int = 2) -> list[Run]:
        self._check_open()
        expired = [
            slot
            for slot in self._runs.values()
            if slot.run.status is RunStatus.RUNNING
            # A running run without a lease was never claimed (it runs in-process): not ours.
            and slot.run.lease_expires_at is not None
            and slot.run.lease_expires_at < now
        ]
        expired.sort(key=_oldest_first_key)
        changed: list[Run] = []
        for slot in expired:
            run = slot.run
            if run.attempts < max_attempts:
                run.status = RunStatus.QUEUED
                run.items = []
                slot.item_keys.clear()
                run.progress = Progress()
            else:
                run.status = RunStatus.FAILED
                run.error = INTERRUPTED
                run.finished_at = now
            run.lease_owner = None
            run.lease_expires_at = None
            changed.append(_copy_run(run, include_items=False))
        return changed

    async def record_webhook(self, run_id: str, delivery: WebhookDelivery) -> None:
        self._check_open()
        slot = self._slot(run_id)
        if slot is not None:
            slot.run.webhook = copy.deepcopy(delivery)

    async def aclose(self) -> None:
        self._closed = True
        self._runs.clear()

    def _slot(self, run_id: str) -> _Slot | None:
        return self._runs.get(run_id) if isinstance(run_id, str) else None

    def _fenced(self, run_id: str, claim: Claim | None, operation: str) -> _Slot | None:
        """The run's slot for a write; raises when ``claim`` is given and not current."""
        slot = self._slot(run_id)
        if claim is not None and (slot is None or not _holds(slot.run, claim)):
            raise LostClaimError(run_id, operation, claim)
        return slot

    def _forget_oldest_finished(self) -> None:
        """Drop the oldest finished runs while more than ``history`` are kept."""
        if self._history is None or len(self._runs) <= self._history:
            return
        excess = len(self._runs) - self._history
        # dicts keep insertion order: the oldest runs come first
        doomed = [run_id for run_id, slot in self._runs.items() if slot.run.status.is_final][
            :excess
        ]
        for run_id in doomed:
            del self._runs[run_id]

    def _new_unique_id(self) -> str:
        # A deterministic test factory may repeat itself; a silent overwrite would lose a run.
        run_id = self._ids.new_id()
        if run_id in self._runs:
            raise ValueError(f"id factory returned {run_id!r} twice; run ids must be unique")
        return run_id

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("InMemoryRunStore was closed with aclose(); create a new one")


def _holds(run: Run, claim: Claim) -> bool:
    return (
        run.status is RunStatus.RUNNING
        and run.lease_owner == claim.owner
        and run.attempts == claim.generation
    )


def _copy_run(run: Run, *, include_items: bool) -> Run:
    if include_items:
        return cast(Run, _tree_copy(run))
    items, run.items = run.items, []
    try:
        return cast(Run, _tree_copy(run))
    finally:
        run.items = items


# Values a copy may share: immutable. Everything else in a Run is a tree of attrs objects,
# dicts and lists (JSON-like), so it can be copied without deepcopy's memo and __reduce__
# machinery — which cost a quarter of the service's CPU per start (bench/start_burst.py).
_SHARED = (str, int, float, bool, type(None), datetime, timedelta, enum.Enum, bytes)
_FIELDS: dict[type, tuple[str, ...]] = {}


def _tree_copy(value: Any) -> Any:
    if isinstance(value, _SHARED):
        return value
    if isinstance(value, dict):
        return {key: _tree_copy(child) for key, child in value.items()}
    if isinstance(value, list):
        return [_tree_copy(child) for child in value]
    cls = type(value)
    names = _FIELDS.get(cls)
    if names is None:
        if not attrs.has(cls):
            return copy.deepcopy(value)
        names = _FIELDS[cls] = tuple(field.name for field in attrs.fields(cls))
    new = object.__new__(cls)
    for name in names:
        object.__setattr__(new, name, _tree_copy(getattr(value, name)))
    return new


_EPOCH = datetime.min.replace(tzinfo=UTC)


def _oldest_first_key(slot: _Slot) -> tuple[datetime, int]:
    return (_aware(slot.run.created_at), slot.seq)


def _matches(run: Run, f: RunFilter) -> bool:
    git = run.git_context if isinstance(run.git_context, dict) else {}
    commit = git.get("sha") if git.get("sha") is not None else git.get("commit")
    created = _aware(run.created_at)
    return (
        (f.org_id is None or run.org_id == f.org_id)
        and (f.suite_id is None or run.suite_id == f.suite_id)
        and (f.status is None or run.status == f.status)
        and (f.env_id is None or run.env_id == f.env_id)
        and (f.trigger is None or run.trigger == f.trigger)
        and (f.branch is None or git.get("branch") == f.branch)
        and (f.commit is None or (isinstance(commit, str) and commit.startswith(f.commit)))
        and (f.created_from is None or created >= _aware(f.created_from))
        and (f.created_before is None or created < _aware(f.created_before))
    )


def _aware(value: datetime | None) -> datetime:
    if value is None:
        return _EPOCH
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _iso(value: datetime) -> str:
    # fixed width (always microseconds), so the strings also sort as the instants do
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class InMemoryCatalog:
    """A Catalog kept in a dict keyed by (kind, org id, document id).

    Args:
        clock: supplies ``createdAt`` and ``updatedAt``.
    """

    def __init__(self, *, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._docs: dict[tuple[CatalogKind, str, str], dict[str, Any]] = {}

    async def upsert(self, kind: CatalogKind, org_id: str, doc: dict[str, Any]) -> dict[str, Any]:
        kind = CatalogKind(kind)
        doc_id = doc.get("id") if isinstance(doc, Mapping) else None
        if not isinstance(doc_id, str) or not doc_id:
            raise ValueError(f"{kind.value} document needs a non-empty string 'id', got {doc_id!r}")
        if kind is CatalogKind.ORGANIZATIONS:
            org_id = doc_id
        key = (kind, org_id, doc_id)
        now = _iso(self._clock.now())
        previous = self._docs.get(key)
        stored = copy.deepcopy(dict(doc))
        stored["orgId"] = org_id
        stored["createdAt"] = previous["createdAt"] if previous else now
        stored["updatedAt"] = now
        self._docs[key] = stored
        return copy.deepcopy(stored)

    async def get(
        self, kind: CatalogKind, org_id: str | None, doc_id: str
    ) -> dict[str, Any] | None:
        kind = CatalogKind(kind)
        if org_id is not None:
            found = self._docs.get((kind, org_id, doc_id))
            return copy.deepcopy(found) if found is not None else None
        # Any organization's document: pick the lowest org id so the answer is stable.
        matches = sorted(
            (key for key in self._docs if key[0] is kind and key[2] == doc_id), key=lambda k: k[1]
        )
        return copy.deepcopy(self._docs[matches[0]]) if matches else None

    async def list(
        self, kind: CatalogKind, org_id: str | None, *, limit: int = 500
    ) -> list[dict[str, Any]]:
        kind = CatalogKind(kind)
        keys = sorted(
            (k for k in self._docs if k[0] is kind and k[1] == org_id), key=lambda k: k[2]
        )
        return [copy.deepcopy(self._docs[k]) for k in keys[: max(limit, 0)]]

    async def delete(self, kind: CatalogKind, org_id: str, doc_id: str) -> bool:
        kind = CatalogKind(kind)
        return self._docs.pop((kind, org_id, doc_id), None) is not None

    # --- ScheduleClaims ------------------------------------------------------------------

    async def scheduled_suites(self) -> builtins.list[dict[str, Any]]:
        return [
            copy.deepcopy(doc)
            for (kind, _, _), doc in sorted(self._docs.items(), key=lambda kv: kv[0][1:])
            if kind is CatalogKind.SUITES and isinstance(doc.get("schedule"), dict)
        ]

    async def claim_schedule(
        self,
        org_id: str,
        suite_id: str,
        *,
        expected_next_run_at: str | None,
        last_run_at: str | None,
        next_run_at: str,
    ) -> bool:
        # No await between the read and the write: atomic on the event loop.
        doc = self._docs.get((CatalogKind.SUITES, org_id, suite_id))
        schedule = doc.get("schedule") if doc is not None else None
        if not isinstance(schedule, dict) or schedule.get("nextRunAt") != expected_next_run_at:
            return False
        schedule["nextRunAt"] = next_run_at
        if last_run_at is not None:
            schedule["lastRunAt"] = last_run_at
        return True


async def open_memory_store(env: Mapping[str, str]) -> tuple[InMemoryRunStore, InMemoryCatalog]:
    """Open a fresh in-memory store and catalog (local mode).

    Args:
        env: the process environment: ``LAMDIS_LOCAL_RUN_HISTORY`` caps the runs kept
            (default 1000; the oldest finished runs are dropped first).

    Raises:
        ConfigError: ``LAMDIS_LOCAL_RUN_HISTORY`` is not a whole number of at least 1.
    """
    history = env_int(env, HISTORY_VARIABLE, DEFAULT_HISTORY, minimum=1)
    clock = SystemClock()
    return InMemoryRunStore(clock=clock, history=history), InMemoryCatalog(clock=clock)
