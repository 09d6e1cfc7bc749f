"""Live run pages: one store watcher per run being viewed, fanned out to its viewers.

However many browsers watch a run, the store is read by one task for it, through
:class:`~lamdis_core.service.RunService`: at once when this instance's worker reports a change
(:meth:`WorkerPool.on_change`) or a stop is asked here, and otherwise every ``poll_seconds``
(a run executed by another instance), with one small read without items that is followed by a
full read only when something moved. Each new item is rendered to HTML once, by the watcher,
whatever the number of viewers. The watcher ends with its last viewer, or when the run is over
and every viewer has been told.

A run is over when it is final and, if it has a webhook, the webhook's outcome is recorded:
the worker records it after the run is final (a slow receiver takes seconds), and a viewer
should see it arrive. The wait for it is bounded by :data:`WEBHOOK_WAIT_SECONDS` from the
run's ``finished_at`` (from the watcher's first sight of the end when that time is unknown or
ahead of this instance's clock); past it the stream ends and the page says the outcome is not
recorded yet.

A run that recovery re-queued (its instance died) starts again from no items: the watcher
sees fewer items than it rendered, or a new attempt, and starts over; viewers are sent the
whole new state with ``reset``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import attrs
from lamdis_core.domain.results import Run
from lamdis_core.logs import get_logger
from lamdis_core.service import RunService
from lamdis_core.service.errors import UnknownRunError

logger = get_logger()

POLL_SECONDS = 2.0
"""How often a watched run is re-read when no in-process notice arrives."""
COALESCE_SECONDS = 0.2
"""The least time between two reads of one run: a burst of notices costs one read."""
WEBHOOK_WAIT_SECONDS = 40.0
"""How long a finished run's stream stays open for its webhook's outcome: the service's
notifier takes at most 31.5 s (three attempts of 10 s, 0.5 s and 1 s apart), plus the store
write and a poll."""


@attrs.frozen
class Snapshot:
    """What viewers are sent: the run's header fields and every item's HTML so far."""

    header: dict[str, Any]
    items: tuple[tuple[str, str], ...]
    """Each item's table row and its section."""
    final: bool
    """The run is over (or gone): nothing more will come."""
    interrupted: bool = False
    """The watcher stopped before the run did (store trouble, shutdown): reconnect later."""
    attempt: int = 0
    """The run's attempt the items belong to: recovery re-queues a run, which starts over."""

    @property
    def last(self) -> bool:
        return self.final or self.interrupted


class WebhookWait(enum.Enum):
    """Where a finished run's webhook outcome stands, while its stream waits for it."""

    SENDING = "sending"
    """Not recorded yet; the stream stays open for it."""
    UNRECORDED = "unrecorded"
    """Still not recorded after the wait (:data:`WEBHOOK_WAIT_SECONDS`); the stream ends."""


Render = Callable[[Run, int, WebhookWait | None], tuple[dict[str, Any], list[tuple[str, str]]]]
"""``render(run, first, webhook_wait)``: the header of ``run`` and the HTML of its items from
``first``."""


class _Watcher:
    def __init__(self, feeds: RunFeeds, run_id: str) -> None:
        self.feeds = feeds
        self.run_id = run_id
        self.viewers: set[asyncio.Event] = set()
        self.poked = asyncio.Event()
        self.snapshot: Snapshot | None = None
        self.task: asyncio.Task[None] | None = None

    async def watch(self) -> None:
        runs = self.feeds.runs()
        seen: tuple[Any, ...] | None = None
        items: list[tuple[str, str]] = []
        attempt: int | None = None
        loop = asyncio.get_running_loop()
        rest = self.feeds.coalesce_seconds
        # When the wait for a final run's webhook outcome ends (loop time); past it, the
        # light read that finds nothing moved no longer keeps the stream open.
        webhook_deadline: float | None = None
        try:
            while self.viewers:
                poked = self.poked.is_set()
                self.poked.clear()
                given_up = webhook_deadline is not None and loop.time() >= webhook_deadline
                if not poked and seen is not None and not given_up:
                    light = await runs.get(self.run_id, include_items=False)
                    if _moved(light) == seen:
                        await self._pause(rest)
                        continue
                started = loop.time()
                run = await runs.get(self.run_id, include_items=True)
                seen = _moved(run)
                if run.attempts != attempt or len(run.items) < len(items):
                    # Re-queued by recovery (and perhaps claimed again): nothing rendered so
                    # far belongs to the run as it now is.
                    items, attempt = [], run.attempts
                wait = None
                if _outcome_pending(run):
                    if webhook_deadline is None:
                        ended = _seconds_since(run.finished_at, runs.clock.now())
                        webhook_deadline = started + self.feeds.webhook_wait_seconds - ended
                    sending = started < webhook_deadline
                    wait = WebhookWait.SENDING if sending else WebhookWait.UNRECORDED
                header, new = self.feeds.render(run, len(items), wait)
                items.extend(new)
                over = run.status.is_final and wait is not WebhookWait.SENDING
                self._publish(Snapshot(header, tuple(items), final=over, attempt=attempt))
                if over:
                    return
                # A big run is costly to read whole: its reads are spaced by five times what
                # the last one took, so watching keeps the store busy a sixth of the time at most.
                rest = max(self.feeds.coalesce_seconds, 5 * (loop.time() - started))
                await self._pause(rest)
        except asyncio.CancelledError:
            raise
        except UnknownRunError:
            self._publish(Snapshot({"gone": True}, tuple(items), final=True))
        except Exception as exc:  # the store failed: viewers reconnect, a new watcher retries
            logger.warning("ui.live_read_failed", run_id=self.run_id, error=repr(exc))
            self.interrupt()
        finally:
            self.feeds._forget(self)

    async def _pause(self, rest: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.feeds.poll_seconds):
                await self.poked.wait()
        await asyncio.sleep(rest)

    def _publish(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        for viewer in self.viewers:
            viewer.set()

    def interrupt(self) -> None:
        last = self.snapshot or Snapshot({}, (), final=False)
        self._publish(attrs.evolve(last, interrupted=True))


def _moved(run: Run) -> tuple[Any, ...]:
    """What changes while a run executes, read without its items. A new item shows in the
    progress that counts it, which a worker writes within a second of the item."""
    return (
        run.status,
        run.progress.done,
        run.progress.total,
        run.progress.current,
        run.stop_requested,
        run.attempts,
        run.webhook is not None,
    )


def awaits_webhook(run: Run, now: datetime, wait_seconds: float) -> bool:
    """Whether a finished run's webhook outcome is not recorded yet but may still be, within
    the stream's wait: its page stays live until then."""
    return _outcome_pending(run) and _seconds_since(run.finished_at, now) < wait_seconds


def _outcome_pending(run: Run) -> bool:
    """Final, with a webhook whose outcome is not recorded (yet)."""
    return bool(run.status.is_final and run.webhook_url and run.webhook is None)


def _seconds_since(at: datetime | None, now: datetime) -> float:
    """Seconds from ``at`` to ``now``; 0 when unknown or ahead (another instance's clock)."""
    return max((_utc(now) - _utc(at)).total_seconds(), 0.0) if at else 0.0


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


class Viewer:
    """One viewer's side of a watcher."""

    def __init__(self, watcher: _Watcher) -> None:
        self._watcher = watcher
        self.changed = asyncio.Event()
        self.ended = False

    async def next(self, *, timeout: float) -> Snapshot | None:  # noqa: ASYNC109  # a heartbeat, not a deadline
        """The latest snapshot once it differs from the last one returned; ``None`` when
        nothing changed within ``timeout`` seconds. After a last snapshot (``ended``),
        nothing more comes."""
        if self.ended:
            raise RuntimeError("the run's stream has ended")
        try:
            async with asyncio.timeout(timeout):
                while True:
                    await self.changed.wait()
                    self.changed.clear()
                    snapshot = self._watcher.snapshot
                    if snapshot is not None:
                        break
        except TimeoutError:
            return None
        self.ended = snapshot.last
        return snapshot


class RunFeeds:
    """The watchers of one service: ``subscribe`` to a run, ``poke`` it when it changed."""

    def __init__(
        self,
        runs: Callable[[], RunService],
        render: Render,
        *,
        poll_seconds: float = POLL_SECONDS,
        coalesce_seconds: float = COALESCE_SECONDS,
        webhook_wait_seconds: float = WEBHOOK_WAIT_SECONDS,
    ) -> None:
        self.runs = runs
        self.render = render
        self.poll_seconds = poll_seconds
        self.coalesce_seconds = coalesce_seconds
        self.webhook_wait_seconds = webhook_wait_seconds
        self._watchers: dict[str, _Watcher] = {}
        self._closed = False

    @property
    def watched(self) -> int:
        """Runs with a watcher now (one however many viewers)."""
        return len(self._watchers)

    def poke(self, run_id: str) -> None:
        """``run_id`` changed: its watcher, if any, re-reads it now."""
        watcher = self._watchers.get(run_id)
        if watcher is not None:
            watcher.poked.set()

    @contextlib.asynccontextmanager
    async def subscribe(self, run_id: str) -> AsyncIterator[Viewer]:
        """Watch ``run_id`` until the block ends; the run's first snapshot comes as soon as
        it is read."""
        if self._closed:
            raise RuntimeError("the service is shutting down")
        watcher = self._watchers.get(run_id)
        if watcher is None:
            watcher = self._watchers[run_id] = _Watcher(self, run_id)
        viewer = Viewer(watcher)
        watcher.viewers.add(viewer.changed)
        if watcher.snapshot is not None:
            viewer.changed.set()
        if watcher.task is None:
            watcher.task = asyncio.create_task(watcher.watch(), name=f"lamdis-ui-live-{run_id}")
        try:
            yield viewer
        finally:
            watcher.viewers.discard(viewer.changed)
            if not watcher.viewers and watcher.task is not None and not watcher.task.done():
                # Forgotten before the await: a viewer arriving meanwhile starts a new watcher
                # rather than joining one that is ending.
                self._forget(watcher)
                watcher.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher.task

    def _forget(self, watcher: _Watcher) -> None:
        if self._watchers.get(watcher.run_id) is watcher:
            del self._watchers[watcher.run_id]

    async def close(self) -> None:
        """End every watcher (the service is stopping); viewers see their stream end."""
        self._closed = True
        for watcher in list(self._watchers.values()):
            watcher.interrupt()
            if watcher.task is not None:
                watcher.task.cancel()
        for watcher in list(self._watchers.values()):
            if watcher.task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher.task
        self._watchers.clear()
