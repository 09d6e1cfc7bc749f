"""The worker pool of the hosted mode: claims queued runs from the store and executes them.

Per instance at most ``max_runs`` runs execute at once. A run is claimed with a lease that a
heartbeat renews, so several instances can share one database; a run whose lease expires (its
instance crashed) is re-queued once by whichever instance notices, then failed with
``interrupted``.

Fencing: every write for a claimed run (item, progress, lease, finish) carries the claim, and
the store refuses it once the claim is no longer current (another instance recovered or
re-claimed the run). At the first refusal the worker gives the run up: it cancels the run's
execution and writes nothing more for it, no finish and no webhook. It does the same when a
lease renewal fails or does not answer within ``lease_seconds / 3`` (renewals start every
``lease_seconds / 3``, so the worker gives up while its lease still holds).

Store traffic is bounded by design, not by luck: per run one ``claim_next``, one
``append_item`` per finished item, a progress write at most once a second (only when progress
changed), a stop poll at most once a second, a lease renewal every ``lease_seconds / 3``, one
``finish_run`` and, with a webhook, one ``record_webhook``. Nothing is written per log line or
per turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import secrets
import socket
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

import attrs

from lamdis_core import tracing
from lamdis_core.domain.errors import LamdisError
from lamdis_core.domain.plan import PlanEntry, RunPlan
from lamdis_core.domain.results import (
    Item,
    JudgeSummary,
    Progress,
    Run,
    RunStatus,
    Totals,
    Usage,
    run_status_for,
)
from lamdis_core.logs import get_logger
from lamdis_core.ports.clock import Clock
from lamdis_core.ports.notifier import Notifier, WebhookPayload
from lamdis_core.ports.store import INTERRUPTED, Claim, LostClaimError, RunStore
from lamdis_core.service.notifications import SuiteSummary, deliver_and_record, summary_payload

logger = get_logger()

WEBHOOK_GRACE_S = 5.0
"""How long shutdown waits for webhook deliveries already under way."""

MAX_ATTEMPTS = 2
"""A run is executed at most twice: the first claim, and one re-queue after a crash."""


@attrs.frozen
class SuitePlan:
    """The plan of one suite of a run (JSON mode runs several suites in one run)."""

    suite_id: str
    plan: RunPlan


class PlanBuilder(Protocol):
    """Turns a claimed run into plans. Raises ``LamdisError`` (usually ``ConfigError``) when
    the run's suite, files or documents cannot be loaded; the run then fails with that error."""

    async def build(self, run: Run) -> list[SuitePlan]: ...


class EngineFactory(Protocol):
    """Gives the engine for a plan (loading only the target adapters the plan's channels
    need). Raises ``LamdisError`` when a channel's adapter is not installed."""

    async def __call__(self, plan: RunPlan) -> RunEngine: ...


class RunEngine(Protocol):
    """What the pool needs of :class:`lamdis_core.engine.Engine`."""

    async def run(
        self,
        plan: RunPlan,
        *,
        concurrency: int = 8,
        repeat: int = 1,
        observer: Any = None,
        stop: asyncio.Event | None = None,
        seed: int | None = None,
        max_cost: float | None = None,
    ) -> Any: ...


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class _RunTracker:
    """The engine observer for one run: appends items as they finish, throttles progress.

    Every write carries the run's claim. ``give_up`` is called at the first refusal; from then
    on the tracker writes nothing.
    """

    def __init__(
        self,
        store: RunStore,
        run_id: str,
        claim: Claim,
        give_up: Callable[[str], None],
        changed: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._changed = changed
        self._run_id = run_id
        self._claim = claim
        self._give_up = give_up
        self.progress = Progress(done=0, total=0)
        self._dirty = False
        self.suite_index = 0
        self.appended: set[str] = set()
        self.turns = 0
        self.lost = False

    async def item_started(self, entry: PlanEntry, repeat: int) -> None:
        self.progress.current = entry.test.label
        self._dirty = True

    async def turn_finished(self, entry: PlanEntry, repeat: int, turn: int) -> None:
        self.turns += 1

    async def item_finished(self, item: Item) -> None:
        with contextlib.suppress(LostClaimError):  # the run is being given up already
            await self.append(item)

    def key_of(self, item: Item) -> str:
        """The item's idempotency key: the same for every attempt to append it, and apart
        for the same test and assistant in two suites of one run (JSON mode)."""
        ident = [self.suite_index, item.file, item.test_id, item.assistant, item.repeat]
        return hashlib.sha256(json.dumps(ident).encode("utf-8", "replace")).hexdigest()[:32]

    async def append(self, item: Item) -> None:
        """Append ``item`` once (a retry reuses its key, so the store keeps one copy)."""
        key = self.key_of(item)
        if self.lost or key in self.appended:
            return
        try:
            await self._store.append_item(self._run_id, item, claim=self._claim, key=key)
        except LostClaimError as exc:
            self.lose(exc)
            raise
        self.appended.add(key)
        self.progress.done += 1
        self._dirty = True
        self._changed()

    async def flush(self) -> None:
        if self._dirty and not self.lost:
            self._dirty = False
            try:
                await self._store.update_progress(
                    self._run_id, attrs.evolve(self.progress), claim=self._claim
                )
            except LostClaimError as exc:
                self.lose(exc)
            else:
                self._changed()

    def lose(self, exc: LostClaimError) -> None:
        self.lost = True
        self._give_up(f"{exc.operation} was refused: the run's claim is no longer current")


class WorkerPool:
    """Claims and executes queued runs in the background.

    Args:
        store: where runs are queued and recorded.
        engines: gives the engine that runs a plan.
        plans: turns a run's request into plans.
        notifier: delivers completion webhooks.
        clock: time source for leases and timestamps.
        judge_name / judge_offline: recorded in each run's judge summary.
        mode: the webhook ``mode`` of suite runs (the store provider: local, mongo, postgres).
        max_runs: runs executing at once on this instance.
        concurrency: tests executing at once within a run.
        lease_seconds: lease length; renewed every third of it.
        poll_seconds: how often an idle pool looks for queued runs, and how often a running
            run polls for a stop request (at most once a second).
        worker_id: this instance's lease owner name.
    """

    def __init__(
        self,
        *,
        store: RunStore,
        engines: EngineFactory,
        plans: PlanBuilder,
        notifier: Notifier,
        clock: Clock,
        judge_name: str = "",
        judge_offline: bool = False,
        mode: str = "local",
        max_runs: int = 4,
        concurrency: int = 8,
        max_cost: float | None = None,
        lease_seconds: float = 30.0,
        poll_seconds: float = 1.0,
        worker_id: str | None = None,
    ) -> None:
        self.store = store
        self.engines = engines
        self.plans = plans
        self.notifier = notifier
        self.clock = clock
        self.judge_name = judge_name
        self.judge_offline = judge_offline
        self.mode = mode
        self.max_runs = max(1, max_runs)
        self.max_cost = max_cost
        self.concurrency = max(1, concurrency)
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.worker_id = worker_id or default_worker_id()
        self._wake = asyncio.Event()
        self._active: dict[str, asyncio.Task[None]] = {}
        self._stops: dict[str, asyncio.Event] = {}
        self._claims: dict[str, Claim] = {}
        self._done: dict[str, asyncio.Event] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._dispatcher: asyncio.Task[None] | None = None
        self._recoverer: asyncio.Task[None] | None = None
        self.summaries: OrderedDict[str, WebhookPayload] = OrderedDict()
        self._listeners: list[Callable[[str], None]] = []

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Recover runs left by crashed instances, then start claiming."""
        await self.recover()
        self._dispatcher = asyncio.create_task(self._dispatch(), name="lamdis-dispatcher")
        self._recoverer = asyncio.create_task(self._recover_loop(), name="lamdis-recoverer")
        logger.info("worker.started", worker_id=self.worker_id, max_runs=self.max_runs)

    async def close(self, *, drain_seconds: float = 0.0) -> None:
        """Stop claiming, let runs in flight finish for up to ``drain_seconds``, cancel the rest.

        A cancelled run is not marked: that would misreport a shutdown as a user's stop or a
        failure. Its lease is ended instead, so the next recovery pass of any instance (this
        one restarted, or another) re-queues it at once rather than after the lease runs out.
        """
        for task in (self._dispatcher, self._recoverer):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._active and drain_seconds > 0:
            logger.info("worker.draining", runs=len(self._active), seconds=drain_seconds)
            await asyncio.wait(list(self._active.values()), timeout=drain_seconds)
        interrupted = list(self._active.items())
        claims = dict(self._claims)
        for _, task in interrupted:
            task.cancel()
        for run_id, task in interrupted:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.renew_seconds):
                    await self.store.renew_lease(
                        run_id,
                        self.worker_id,
                        now=self.clock.now(),
                        lease_seconds=0,
                        claim=claims.get(run_id),
                    )
            logger.warning("worker.run_interrupted_by_shutdown", run_id=run_id)
        self._active.clear()
        # Webhooks of runs that did finish get a short grace period to be delivered.
        if self._background:
            _, pending = await asyncio.wait(list(self._background), timeout=WEBHOOK_GRACE_S)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._background.clear()

    @property
    def active_count(self) -> int:
        return len(self._active)

    def on_change(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(run_id)`` after this instance stores something about a run
        (claimed, an item, progress, finished, its webhook's outcome, re-queued or failed by
        recovery), so a live view re-reads the store at once instead of on its next poll.
        Listeners must be quick and must not raise."""
        self._listeners.append(listener)

    def _changed(self, run_id: str) -> None:
        for listener in self._listeners:
            try:
                listener(run_id)
            except Exception:  # a viewer's trouble must never reach a run
                logger.exception("worker.listener_failed", run_id=run_id)

    def wake(self) -> None:
        """A run was queued: look for it now instead of at the next poll."""
        self._wake.set()

    def signal_stop(self, run_id: str) -> None:
        """A stop for ``run_id`` was recorded; if it runs here, stop it without waiting."""
        event = self._stops.get(run_id)
        if event is not None:
            event.set()

    async def wait_for(self, run_id: str, *, timeout: float) -> Run | None:  # noqa: ASYNC109  # a deadline across store polls, not one await
        """Wait until the run is final (or ``timeout`` passes) and return it without items."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while True:
                run = await self.store.get_run(run_id, include_items=False)
                if run is None or run.status.is_final:
                    return run
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return run
                done = self._done.setdefault(run_id, asyncio.Event())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), timeout=min(1.0, remaining))
        finally:
            if run_id not in self._active:
                # The run executes elsewhere (or is over): nothing here will set the event.
                self._done.pop(run_id, None)

    def notify_stopped_while_queued(self, run: Run, *, stopped_at: datetime) -> None:
        """Send the webhook of a run that a stop ended before any worker claimed it.

        ``run`` and ``stopped_at`` are ``request_stop``'s answer and its ``now``: only the stop
        that made the run final sent it (its ``finished_at`` is that ``now``), so repeated
        stops, on this instance or another, never send it again.
        """
        if run.finished_at != stopped_at:
            return
        if run.webhook_url and run.webhook is None:
            payload = summary_payload(run, mode=self._mode_of(run), suites=[])
            self._spawn(self._notify(run, payload))

    async def recover(self) -> list[Run]:
        """Re-queue (once) or fail runs whose lease expired; returns the runs changed."""
        changed = await self.store.recover_expired(now=self.clock.now(), max_attempts=MAX_ATTEMPTS)
        for run in changed:
            if run.id is not None:
                self._changed(run.id)  # a live view of it starts over, or ends
            logger.warning(
                "worker.recovered_run",
                run_id=run.id,
                status=str(run.status),
                attempts=run.attempts,
            )
            if run.status is RunStatus.FAILED and run.error == INTERRUPTED and run.webhook_url:
                payload = summary_payload(run, mode=self._mode_of(run), suites=[])
                self._spawn(self._notify(run, payload))
        if any(r.status is RunStatus.QUEUED for r in changed):
            self.wake()
        return changed

    # --- loops -------------------------------------------------------------------------

    async def _dispatch(self) -> None:
        backoff = self.poll_seconds
        while True:
            self._wake.clear()
            try:
                while len(self._active) < self.max_runs:
                    run = await self.store.claim_next(
                        self.worker_id, now=self.clock.now(), lease_seconds=self.lease_seconds
                    )
                    if run is None or run.id is None:
                        break
                    self._launch(run)
                backoff = self.poll_seconds
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("worker.claim_failed")
                backoff = min(backoff * 2, 30.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=backoff)

    async def _recover_loop(self) -> None:
        while True:
            await asyncio.sleep(max(self.lease_seconds / 2, 0.5))
            try:
                await self.recover()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("worker.recover_failed")

    def _launch(self, run: Run) -> None:
        assert run.id is not None
        run_id = run.id
        stop = asyncio.Event()
        if run.stop_requested:
            stop.set()
        self._stops[run_id] = stop
        self._claims[run_id] = Claim.of(run)
        task = asyncio.create_task(self._execute(run, stop), name=f"lamdis-run-{run_id}")
        self._active[run_id] = task

        def finished(_: asyncio.Task[None]) -> None:
            self._active.pop(run_id, None)
            self._stops.pop(run_id, None)
            self._claims.pop(run_id, None)
            done = self._done.pop(run_id, None)
            if done is not None:
                done.set()
            self._wake.set()

        task.add_done_callback(finished)
        self._changed(run_id)

    async def _notify(self, run: Run, payload: WebhookPayload) -> None:
        """Send the finished run's webhook and record its outcome, which a live view shows."""
        await deliver_and_record(self.notifier, self.store, run, payload)
        if run.id is not None:
            self._changed(run.id)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- one run -----------------------------------------------------------------------

    async def _execute(self, run: Run, stop: asyncio.Event) -> None:
        assert run.id is not None
        run_id = run.id
        log = logger.bind(run_id=run_id, suite_id=run.suite_id, attempt=run.attempts)
        log.info("run.started", kind=run.request.get("kind", "suite"))
        tracing.describe_run(
            {
                "lamdis.run.id": run_id,
                "lamdis.org.id": run.org_id,
                "lamdis.run.attempt": run.attempts,
            }
        )
        claim = Claim.of(run)
        body = asyncio.current_task()
        assert body is not None
        given_up: list[str] = []

        def give_up(reason: str) -> None:
            # Called from the heartbeat or from a write in a test's task, never from the body.
            if not given_up:
                given_up.append(reason)
                body.cancel()

        tracker = _RunTracker(
            self.store, run_id, claim, give_up, changed=lambda: self._changed(run_id)
        )
        helpers = [
            asyncio.create_task(self._heartbeat(run_id, claim, give_up)),
            asyncio.create_task(self._tick(run_id, stop, tracker)),
        ]
        try:
            await self._run_plans(run, claim, stop, tracker, log)
        except asyncio.CancelledError:
            if given_up:
                log.warning("run.given_up", worker_id=self.worker_id, reason=given_up[0])
                return
            raise
        except LostClaimError as exc:
            log.warning(
                "run.given_up",
                worker_id=self.worker_id,
                reason=f"{exc.operation} was refused: the run's claim is no longer current",
            )
        except Exception:
            # The store failed while recording the end of the run; its lease will expire and
            # recovery re-queues it (once), so nothing is reported as finished that was not.
            log.exception("run.record_failed")
        finally:
            tracker.lost = True  # nothing more is written for this claim
            for helper in helpers:
                helper.cancel()
            for helper in helpers:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await helper

    async def _run_plans(
        self, run: Run, claim: Claim, stop: asyncio.Event, tracker: _RunTracker, log: Any
    ) -> None:
        assert run.id is not None
        if run.seed is None:
            # One seed for every suite of the run; _finish records it with the result.
            run = attrs.evolve(run, seed=secrets.randbelow(2**31))
        try:
            suites = await self.plans.build(run)
            engines = [await self.engines(suite.plan) for suite in suites]
        except LamdisError as exc:
            log.warning("run.plan_failed", error=str(exc))
            await self._finish(run, claim, [], Usage(), stopped=False, error=str(exc), suites=[])
            return
        tracker.progress.total = sum(len(s.plan.entries) for s in suites)
        items: list[Item] = []
        usage = Usage()
        stopped = False
        stop_reason: str | None = None
        summaries: list[SuiteSummary] = []
        try:
            for index, (suite, engine) in enumerate(zip(suites, engines, strict=True)):
                tracker.suite_index = index
                if stop_reason is not None:
                    break  # the budget is spent: later suites do not start
                budget = None
                if self.max_cost is not None:
                    # One budget per run, whatever its number of suites.
                    budget = max(self.max_cost - (usage.cost_usd or 0.0), 1e-9)
                result = await engine.run(
                    suite.plan,
                    concurrency=self.concurrency,
                    observer=tracker,
                    stop=stop,
                    seed=run.seed,
                    max_cost=budget,
                )
                stop_reason = getattr(result, "stop_reason", None)
                for item in result.items:
                    # Items whose append failed (or that the engine did not report) still
                    # belong in the record; a retry reuses the first attempt's key, so an
                    # append that landed but lost its answer is not stored twice.
                    await tracker.append(item)
                items.extend(result.items)
                usage.add(result.usage)
                stopped = stopped or bool(result.stopped)
                summaries.append(SuiteSummary(suite.suite_id, result.items))
        except (asyncio.CancelledError, LostClaimError):
            raise
        except Exception as exc:
            log.exception("run.crashed")
            await self._finish(
                run,
                claim,
                items,
                usage,
                stopped=False,
                error=f"{type(exc).__name__}: {exc}",
                suites=summaries,
            )
            return
        await self._finish(
            run,
            claim,
            items,
            usage,
            stopped=stopped,
            error=None,
            suites=summaries,
            stop_reason=stop_reason,
        )

    async def _finish(
        self,
        run: Run,
        claim: Claim,
        items: Sequence[Item],
        usage: Usage,
        *,
        stopped: bool,
        error: str | None,
        suites: Sequence[SuiteSummary],
        stop_reason: str | None = None,
    ) -> None:
        assert run.id is not None
        totals = Totals.of(list(items))
        status = RunStatus.FAILED if error else run_status_for(totals, stopped=stopped)
        if stop_reason is not None and status is not RunStatus.FAILED:
            # The budget cut the run short: partial, and the stored run says why.
            status, error = RunStatus.PARTIAL, stop_reason
        judge = JudgeSummary.of(
            list(items), provider=self.judge_name or None, offline=self.judge_offline
        )
        await self.store.finish_run(
            run.id,
            status=status,
            totals=totals,
            judge=judge,
            usage=usage,
            finished_at=self.clock.now(),
            error=error,
            claim=claim,
            seed=run.seed,
        )
        self._changed(run.id)
        logger.info(
            "run.finished",
            run_id=run.id,
            status=str(status),
            passed=totals.passed,
            failed=totals.failed,
            skipped=totals.skipped,
            errors=totals.errors,
        )
        final = attrs.evolve(
            run, status=status, totals=totals, judge=judge, usage=usage, error=error
        )
        payload = summary_payload(final, mode=self._mode_of(run), suites=suites)
        self.summaries[run.id] = payload
        while len(self.summaries) > 1000:
            self.summaries.popitem(last=False)
        if run.webhook_url:
            self._spawn(self._notify(final, payload))

    def _mode_of(self, run: Run) -> str:
        kind = run.request.get("kind", "suite")
        return {"json": "json", "file": "file"}.get(kind, self.mode)

    async def _tick(self, run_id: str, stop: asyncio.Event, tracker: _RunTracker) -> None:
        """Once a second: flush progress and poll for a stop request."""
        while True:
            await asyncio.sleep(1.0)
            try:
                await tracker.flush()
                if not stop.is_set() and await self.store.is_stop_requested(run_id):
                    logger.info("run.stop_requested", run_id=run_id)
                    stop.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                # Progress and stop polls may miss a beat; the lease decides who holds the run.
                logger.exception("run.progress_failed", run_id=run_id)

    async def _heartbeat(self, run_id: str, claim: Claim, give_up: Callable[[str], None]) -> None:
        """Renew the lease every ``lease_seconds / 3``; give the run up when a renewal is
        refused, fails, or does not answer within ``lease_seconds / 3``.

        Its own task, so a slow progress write or stop poll never delays a renewal. Renewals
        start every ``lease_seconds / 3`` counted from the previous one's start (not its
        end), so the worker gives up at most two thirds of a lease after the last renewal
        that held: before the lease can expire and another instance take the run.
        """
        loop = asyncio.get_running_loop()
        every = self.renew_seconds
        started = loop.time()  # the claim's lease runs from (slightly before) here
        while True:
            started += every
            await asyncio.sleep(max(0.0, started - loop.time()))
            try:
                async with asyncio.timeout(every):
                    held = await self.store.renew_lease(
                        run_id,
                        self.worker_id,
                        now=self.clock.now(),
                        lease_seconds=self.lease_seconds,
                        claim=claim,
                    )
            except asyncio.CancelledError:
                raise
            except TimeoutError:
                give_up(f"the lease renewal did not answer within {every:g} s")
                return
            except Exception as exc:
                logger.warning("run.lease_renewal_failed", run_id=run_id, error=repr(exc))
                give_up(f"the lease renewal failed: {type(exc).__name__}: {exc}")
                return
            if not held:
                give_up("the lease is no longer ours (renewal refused)")
                return

    @property
    def renew_seconds(self) -> float:
        """How often the lease is renewed, and how long one renewal may take."""
        return max(self.lease_seconds / 3, 0.1)
