"""Adaptive concurrency per target host (AIMD), and keeping its waits off a turn's clock.

Every adapter that calls a host takes a slot from that host's :class:`AdaptiveLimit` around
each call. The limit starts small and doubles its way up (one more slot per success) until
the host first pushes back; from then on it grows by about one slot per round of answers
(``1/limit`` per success). An answer that says slow down (429, 503) halves it, once per round:
answers to calls made before the last cut do not cut again. A ``Retry-After`` closes the gate
for that long for every caller of the host, so the tests of a run back off together instead
of each hammering on its own schedule.

Waiting for a slot is the host's doing, not the assistant's slowness: the engine runs each
turn inside :func:`turn_budget`, and the time a call spends queued is added back to that
turn's deadline and recorded in the test's :class:`~lamdis_core.domain.results.Throttling`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections.abc import AsyncIterator, Callable, Iterator

import attrs

from lamdis_core.domain.base import Record
from lamdis_core.domain.results import Throttling

THROTTLING_STATUSES = frozenset({429, 503})


@attrs.define(repr=False, eq=False)
class _Budget(Record):
    deadline: asyncio.Timeout | None
    throttling: Throttling


_turn: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "lamdis_turn_budget", default=None
)


@contextlib.contextmanager
def turn_budget(deadline: asyncio.Timeout | None, throttling: Throttling) -> Iterator[None]:
    """Within this block, slot waits extend ``deadline`` and are added to ``throttling``."""
    token = _turn.set(_Budget(deadline, throttling))
    try:
        yield
    finally:
        _turn.reset(token)


_run_concurrency: contextvars.ContextVar[int] = contextvars.ContextVar(
    "lamdis_run_concurrency", default=0
)


@contextlib.contextmanager
def run_concurrency(tests: int) -> Iterator[None]:
    """Within this block (a run), a host called for the first time starts its limit at
    ``tests``, the calls the run makes at once by the user's choice, instead of probing up
    from a few slots: slow start from 4 cost a short run of 20 concurrent tests two extra
    round trips, doubling its time (bench/RESULTS.md, W1). A host that pushes back still
    halves it."""
    token = _run_concurrency.set(tests)
    try:
        yield
    finally:
        _run_concurrency.reset(token)


def _note_queued(seconds: float) -> None:
    budget = _turn.get()
    if budget is None or seconds <= 0:
        return
    budget.throttling.queued_ms += seconds * 1000
    deadline = budget.deadline
    if deadline is not None:
        when = deadline.when()
        if when is not None and not deadline.expired():
            deadline.reschedule(when + seconds)


@attrs.define(repr=False, eq=False)
class Slot(Record):
    """One admitted call. Tell it how the call went with :meth:`throttled` (else: success)."""

    epoch: int
    outcome: str = "ok"
    retry_after: float | None = None

    def throttled(self, retry_after: float | None = None) -> None:
        self.outcome = "throttled"
        self.retry_after = retry_after

    def failed(self) -> None:
        """Neither success nor push-back (a connection error, a 500): the limit stays."""
        self.outcome = "failed"


class AdaptiveLimit:
    """The AIMD concurrency limit of one host.

    Args:
        initial: slots at the start.
        minimum: the limit never goes below this.
        maximum: nor above this.
        clock: monotonic seconds (tests pass their own).
        adaptive: ``False`` admits every call at once and never pauses (it still counts
            push-backs); for comparing against a fixed concurrency.
    """

    def __init__(
        self,
        *,
        initial: float = 4,
        minimum: float = 1,
        maximum: float = 256,
        clock: Callable[[], float] = time.monotonic,
        adaptive: bool = True,
    ) -> None:
        self.adaptive = adaptive
        self.limit = float(initial)
        self.minimum = float(minimum)
        self.maximum = float(maximum)
        self._clock = clock
        self._in_flight = 0
        self._epoch = 0
        self._slow_start = True
        self._paused_until = 0.0
        self._changed = asyncio.Condition()
        self.throttled_count = 0
        self.queued_s = 0.0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def acquire(self) -> Slot:
        """Wait for a free slot (and for any Retry-After pause to end); see :meth:`slot`."""
        if not self.adaptive:
            self._in_flight += 1
            return Slot(epoch=self._epoch)
        started = self._clock()
        async with self._changed:
            while True:
                pause = self._paused_until - self._clock()
                if pause > 0:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(pause):
                            await self._changed.wait()
                    continue
                if self._in_flight < max(1, int(self.limit)):
                    self._in_flight += 1
                    break
                await self._changed.wait()
        waited = self._clock() - started
        if waited > 0:
            self.queued_s += waited
            _note_queued(waited)
        return Slot(epoch=self._epoch)

    async def release(self, slot: Slot) -> None:
        if not self.adaptive:
            self._in_flight -= 1
            self.throttled_count += slot.outcome == "throttled"
            return
        async with self._changed:
            self._in_flight -= 1
            if slot.outcome == "throttled":
                self.throttled_count += 1
                if slot.epoch == self._epoch:
                    self._epoch += 1
                    self._slow_start = False
                    self.limit = max(self.minimum, self.limit / 2)
                if slot.retry_after is not None and slot.retry_after > 0:
                    self._paused_until = max(self._paused_until, self._clock() + slot.retry_after)
            elif slot.outcome == "ok":
                step = 1.0 if self._slow_start else 1.0 / max(self.limit, 1.0)
                self.limit = min(self.maximum, self.limit + step)
            self._changed.notify_all()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[Slot]:
        """``async with limit.slot() as slot:`` around one call; an exception that escapes
        counts as ``failed`` unless the block already marked the slot."""
        taken = await self.acquire()
        try:
            yield taken
        except BaseException:
            if taken.outcome == "ok":
                taken.failed()
            raise
        finally:
            await self.release(taken)


class HostLimits:
    """One :class:`AdaptiveLimit` per host (``scheme://host:port``), made on first use.

    Args:
        enabled: ``False`` gives every host an open gate (still counting push-backs).
        initial: each host's first limit, or the run's concurrency when higher (see
            :func:`run_concurrency`), up to ``maximum``.
        maximum: each host's largest limit.
    """

    def __init__(self, *, enabled: bool = True, initial: float = 4, maximum: float = 256) -> None:
        self.enabled = enabled
        self._initial = initial
        self._maximum = maximum
        self._limits: dict[str, AdaptiveLimit] = {}

    def for_host(self, host: str) -> AdaptiveLimit:
        limit = self._limits.get(host)
        if limit is None:
            initial = max(self._initial, min(_run_concurrency.get(), self._maximum))
            limit = AdaptiveLimit(initial=initial, maximum=self._maximum, adaptive=self.enabled)
            self._limits[host] = limit
        return limit

    def stats(self) -> dict[str, dict[str, float]]:
        """Per host: the current limit, answers that pushed back, seconds spent queued."""
        return {
            host: {
                "limit": round(limit.limit, 2),
                "throttled": limit.throttled_count,
                "queuedS": round(limit.queued_s, 3),
            }
            for host, limit in self._limits.items()
        }
