"""The schedule timer of one service instance: every ``LAMDIS_SCHEDULE_SECONDS`` it calls
:func:`lamdis_core.schedule.start_due_runs`, then wakes the worker pool so a queued
scheduled run starts at once. Several instances may run it against one database: the
store's claim lets exactly one of them start each due run."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from lamdis_core.domain.results import Run
from lamdis_core.logs import get_logger
from lamdis_core.ports.clock import Clock
from lamdis_core.ports.schedule import ScheduleClaims
from lamdis_core.ports.store import RunStore
from lamdis_core.schedule import start_due_runs

logger = get_logger()


class Scheduler:
    """Starts due scheduled runs on a timer.

    Args:
        claims: the catalog (its ScheduleClaims side).
        store: where runs are queued.
        clock: what "now" is (a test's fake clock makes windows come on demand).
        wake: called after runs were queued (the worker pool's ``wake``).
        interval_seconds: how often to look; real time, whatever the clock.
    """

    def __init__(
        self,
        *,
        claims: ScheduleClaims,
        store: RunStore,
        clock: Clock,
        wake: Callable[[], None],
        interval_seconds: float,
    ) -> None:
        self._claims = claims
        self._store = store
        self._clock = clock
        self._wake = wake
        self._interval = interval_seconds
        self._task: asyncio.Task[None] | None = None

    async def tick(self) -> list[Run]:
        """Start what is due now; returns the runs this instance queued."""
        started = await start_due_runs(self._claims, self._store, self._clock.now())
        if started:
            self._wake()
        return started

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="lamdis-scheduler")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception as exc:  # a store hiccup must not end the timer
                logger.warning("schedule.tick_failed", error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(self._interval)
