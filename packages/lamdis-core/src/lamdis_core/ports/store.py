"""The RunStore port: run history and the queue of runs to execute."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

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

INTERRUPTED = "interrupted"
"""The error recorded on a run whose worker vanished and that may not be re-queued again."""


@attrs.frozen(kw_only=True)
class RunFilter:
    """Which runs ``list_runs`` returns. ``None`` fields do not filter."""

    org_id: str | None = None
    suite_id: str | None = None
    status: RunStatus | None = None
    limit: int = 20


class RunStore(Protocol):
    """Persists runs and hands queued runs to workers.

    Ids are strings the store chooses (Mongo: ObjectId hex). An id the store never issued, or
    one that is malformed for this store, is simply unknown: readers return ``None`` and
    writers return ``False``/``None`` — they never raise for it. Connection failures raise
    the adapter's own error after its retries; nothing reported as written is lost.

    Every method is safe to call concurrently, from several processes sharing one database.
    """

    async def create_run(self, run: Run) -> Run:
        """Store a new run and return it with ``id`` and ``created_at`` set.

        The run is stored as given (normally ``queued``); its ``items`` are ignored.
        """
        ...

    async def get_run(self, run_id: str, *, include_items: bool = True) -> Run | None:
        """The run, with its items in the order they were appended, or ``None``."""
        ...

    async def list_runs(self, run_filter: RunFilter) -> list[Run]:
        """Runs matching the filter, newest ``created_at`` first, without their items."""
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
        self, run_id: str, worker_id: str, *, now: datetime, lease_seconds: float
    ) -> bool:
        """Extend the lease; ``False`` when ``worker_id`` no longer holds it."""
        ...

    async def update_progress(self, run_id: str, progress: Progress) -> None:
        """Overwrite the run's progress (one small write; callers throttle it)."""
        ...

    async def append_item(self, run_id: str, item: Item) -> None:
        """Append one finished item. Durable when it returns; the cost does not grow with
        the number of items already stored."""
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
    ) -> None:
        """Record the final status and summary and release the lease."""
        ...

    async def request_stop(self, run_id: str, *, now: datetime) -> Run | None:
        """Ask a run to stop and return it (without items), or ``None`` if unknown.

        A queued run becomes ``stopped`` at once (``finished_at = now``); a running run gets
        ``stop_requested`` and its worker stops it within one turn; a finished run is
        returned unchanged.
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
        """
        ...

    async def record_webhook(self, run_id: str, delivery: WebhookDelivery) -> None:
        """Record the completion webhook's delivery outcome on the run."""
        ...

    async def aclose(self) -> None:
        """Release connections. The store is unusable afterwards."""
        ...
