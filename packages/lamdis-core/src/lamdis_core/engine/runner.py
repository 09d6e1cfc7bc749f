"""Runs plans: bounded concurrency across tests, strict order within a test."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Awaitable, Mapping, Sequence
from datetime import datetime

import attrs

from lamdis_core import tracing
from lamdis_core.config.environment import needed_variables
from lamdis_core.config.interpolation import interpolate_env
from lamdis_core.domain.base import Record
from lamdis_core.domain.errors import (
    ConfigError,
    ConfigProblem,
    InterpolationError,
    LamdisError,
    TargetError,
)
from lamdis_core.domain.plan import PlanEntry, RunPlan
from lamdis_core.domain.results import (
    Artifacts,
    Item,
    ItemStatus,
    JudgeSummary,
    RunStatus,
    ScoreTally,
    Totals,
    Usage,
)
from lamdis_core.engine._auth import AuthResolver
from lamdis_core.engine._budget import BudgetedJudge
from lamdis_core.engine._test_run import TestExecution
from lamdis_core.engine._traced import TracedJudge
from lamdis_core.engine.finished import FinishedItems, InPlanOrder, ItemsInMemory
from lamdis_core.engine.observer import NullObserver, RunObserver
from lamdis_core.logs import get_logger
from lamdis_core.masking import SecretMasker, looks_secret
from lamdis_core.ports.clock import Clock, SystemClock
from lamdis_core.ports.judge import Judge
from lamdis_core.ports.requester import Requester
from lamdis_core.ports.target import Target, TargetFactory
from lamdis_core.pricing import Budget
from lamdis_core.ratelimit import run_concurrency
from lamdis_core.reports.facts import FactsBuilder, ReportFacts
from lamdis_core.reports.stats import PassRateGate, RepeatStats, gated_status
from lamdis_core.retry import RetryPolicy

logger = get_logger()


@attrs.define(kw_only=True, repr=False, eq=False)
class RunResult(Record):
    """What a run produced. ``items`` are in plan order (entry, then repeat): a list, or
    items read back from disk (:class:`~lamdis_core.engine.finished.SpilledItems`)."""

    items: Sequence[Item]
    totals: Totals
    status: RunStatus
    judge: JudgeSummary
    usage: Usage
    started_at: datetime
    finished_at: datetime
    stopped: bool = False
    gate: PassRateGate = attrs.Factory(PassRateGate)
    seed: int | None = None
    """What the data generators drew from; ``--seed`` with it reproduces them."""
    stop_reason: str | None = None
    """Why the run stopped early on its own (the ``--max-cost`` budget), if it did."""
    facts: ReportFacts | None = attrs.field(default=None, eq=False, repr=False)
    """What every report shares, gathered over ``items`` under ``gate`` by whoever made
    them (the engine does, in the same read as the totals); pass it to the report writers
    as ``facts=`` to spare them another read of the items. ``None``: not gathered."""


class Engine:
    """Executes run plans against targets, with a judge and a requester.

    Args:
        targets: a TargetFactory per channel name (``http_chat``...). The engine creates one
            Target per assistant per run and closes it at the end; factories stay open (the
            composition root owns them).
        judge: scores rubrics, simulates the user, extracts values.
        requester: performs ``request`` steps and OAuth token fetches.
        clock: time source (a fake one makes tests instant and deterministic).
        retry: policy for retryable target errors.
        env: environment for ``${NAME}`` in auth and headers (default ``os.environ``).
        require_llm_judge: a rubric check the judge cannot assess fails instead of being
            skipped ("needs an LLM judge").
        judge_samples: how many times a rubric is judged (median score) unless its check or
            ``judgeConfig`` says ``samples``.
    """

    def __init__(
        self,
        *,
        targets: Mapping[str, TargetFactory],
        judge: Judge,
        requester: Requester,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        env: Mapping[str, str] | None = None,
        require_llm_judge: bool = False,
        judge_samples: int = 1,
    ) -> None:
        self.targets = dict(targets)
        self.judge = judge
        self.requester = requester
        self.clock = clock or SystemClock()
        self.retry = retry or RetryPolicy()
        self.env = env if env is not None else os.environ
        self.require_llm_judge = require_llm_judge
        self.judge_samples = judge_samples

    async def run(
        self,
        plan: RunPlan,
        *,
        concurrency: int = 8,
        repeat: int = 1,
        observer: RunObserver | None = None,
        stop: asyncio.Event | None = None,
        min_pass_rate: float = 1.0,
        seed: int | None = None,
        max_cost: float | None = None,
        finished: FinishedItems | None = None,
    ) -> RunResult:
        """Run every entry ``repeat`` times, at most ``concurrency`` tests at once.

        Setting ``stop`` stops the run within one turn: tests not yet finished become
        ``skipped`` and the result is ``stopped``. Cancelling the task that awaits ``run``
        cancels in-flight turns; items finished so far have already reached ``observer``.
        A test whose target or judge keeps failing becomes an ``error`` item; the others go on.
        The status is gated per test (:mod:`lamdis_core.reports.stats`): a test fails the run
        when its pass rate is below its ``minPassRate``, else ``min_pass_rate``.
        ``seed`` fixes what the data generators in test ``variables`` draw (one is picked, and
        reported, when none is given).
        ``max_cost`` (USD) stops the run before a judge call that would take its spend past
        the budget: the status is ``partial`` (``failed`` if a finished test failed), the
        reason is ``stop_reason``, finished items are kept and unfinished ones skipped.
        ``finished`` keeps the finished items (in memory unless told otherwise: ``lamdis run``
        spills them to disk, so a long ``--repeat`` run does not hold them all).
        """
        if seed is None:
            seed = secrets.randbelow(2**31)
        observer = observer or NullObserver()
        stop = stop or asyncio.Event()
        started_at = self.clock.now()
        auth = AuthResolver(self.requester, self.env, self.clock)
        # Work is handed out lazily: ``concurrency`` workers draw (entry, repeat) pairs from
        # one generator, so memory and the cost of a cancel do not grow with the repeat count
        # (one task per test x repeat made --repeat 1000000 take gigabytes and ignore Ctrl-C).
        jobs = enumerate((entry, r) for entry in plan.entries for r in range(max(1, repeat)))
        results = finished if finished is not None else ItemsInMemory()
        # Every figure is made from the items in plan order as they finish, so the items
        # (on disk with ``lamdis run``) are not read back for them at the end.
        totals, usage, stats, scores = Totals(), Usage(), RepeatStats(), ScoreTally()
        facts = FactsBuilder()

        def count(item: Item) -> None:
            totals.count(item.status)
            usage.add(item.usage)
            stats.add(item)
            scores.add(item)
            facts.add(item)

        in_order = InPlanOrder(results, count)
        targets = Targets(self.targets, auth, self.env)
        # Credentials may come back in replies and request results (echoed, lower-cased,
        # base64- or URL-encoded); every report and stored run is made from these items.
        masker = SecretMasker.from_env(self.env, _credential_headers(plan, self.env))
        budget = Budget(limit=max_cost) if max_cost is not None else None
        run_trace = tracing.start_run({"lamdis.run.seed": seed, "lamdis.suite.id": plan.suite_id})
        judge: Judge = TracedJudge(self.judge) if tracing.enabled() else self.judge
        if budget is not None:
            judge = BudgetedJudge(judge, budget, stop)

        async def worker() -> None:
            tracing.mask_with(masker)
            for index, (entry, rep) in jobs:
                if stop.is_set():
                    item = _skipped(
                        entry, rep, "the run was stopped before this test started", self.clock
                    )
                elif not entry.test.enabled:
                    item = _skipped(entry, rep, "disabled (enabled: false)", self.clock)
                else:
                    with tracing.execution_span(
                        test_id=entry.test.id,
                        test_name=entry.test.label,
                        assistant=entry.assistant.id,
                        repeat=rep,
                        run=run_trace,
                    ) as test_trace:
                        await _notify(observer.item_started(entry, rep))
                        item = await self._run_entry(
                            entry, rep, targets, auth, stop, observer, seed, judge
                        )
                        masker.add(*auth.issued)
                        masker.mask_value(item)
                        test_trace.finish_test(item)
                in_order.put(index, item)
                await _notify(observer.item_finished(item))
                # A worker whose items finish without awaiting anything (skipped, disabled)
                # would otherwise hold the loop until the generator is exhausted.
                await asyncio.sleep(0)

        try:
            with run_concurrency(max(1, concurrency)):
                async with asyncio.TaskGroup() as group:
                    for _ in range(max(1, concurrency)):
                        group.create_task(worker())
        except BaseException:
            run_trace.end()
            raise
        finally:
            await asyncio.shield(targets.aclose())
        items = results.in_order()
        if in_order.taken != len(items):  # pragma: no cover - every job puts an item
            raise AssertionError(f"{len(items)} items finished, {in_order.taken} counted")
        stop_reason = budget.reason if budget is not None else None
        stopped = stop.is_set() and stop_reason is None
        gate = PassRateGate(
            default=min_pass_rate,
            per_test={
                e.test.id: e.test.min_pass_rate
                for e in plan.entries
                if e.test.min_pass_rate is not None
            },
        )
        status = gated_status(stats, gate, stopped=stopped)
        if stop_reason is not None and status is not RunStatus.FAILED:
            status = RunStatus.PARTIAL
        run_trace.finish_run(status=status.value, totals=attrs.asdict(totals))
        return RunResult(
            items=items,
            totals=totals,
            status=status,
            gate=gate,
            judge=scores.summary(
                provider=self.judge.name,
                offline=self.judge.offline,
                # LLM judges run their calls through a CallPolicy, which counts push-backs.
                rate_limited=getattr(getattr(self.judge, "policy", None), "throttled", 0),
                backoff_ms=getattr(getattr(self.judge, "policy", None), "backoff_s", 0.0) * 1000,
            ),
            usage=usage,
            started_at=started_at,
            finished_at=self.clock.now(),
            stopped=stopped,
            seed=seed,
            stop_reason=stop_reason,
            facts=facts.facts(gate),
        )

    async def _run_entry(
        self,
        entry: PlanEntry,
        repeat: int,
        targets: Targets,
        auth: AuthResolver,
        stop: asyncio.Event,
        observer: RunObserver,
        seed: int,
        judge: Judge,
    ) -> Item:
        needs = needed_variables(entry)
        missing = [name for name in needs if name not in self.env]
        if missing:
            # Named by the variable itself (DEV1_BOT_API_KEY, not the pattern auth's
            # BOT_API_KEY), before anything is sent. `lamdis run` stops earlier (exit 2);
            # this is for plans run as they come (the hosted worker).
            item = _skipped(entry, repeat, "", self.clock)
            item.status = ItemStatus.ERROR
            item.error = "; ".join(
                f"environment variable {name} is not set ({needs[name]} needs it)"
                for name in missing
            )
            item.artifacts.log.append(item.error)
            return item
        try:
            target = await targets.get(entry)
        except Exception as exc:
            # ConfigError, TargetError... or whatever a third-party factory raises: this
            # test is an error, the others go on.
            known = isinstance(exc, ConfigError | InterpolationError | TargetError)
            reason = str(exc) if known else f"{type(exc).__name__}: {exc}"
            item = _skipped(entry, repeat, "", self.clock)
            item.status = ItemStatus.ERROR
            item.error = f"cannot reach assistant {entry.assistant.id}: {reason}"
            item.artifacts.log.append(item.error)
            return item

        async def on_turn(turn: int) -> None:
            await _notify(observer.turn_finished(entry, repeat, turn))

        execution = TestExecution(
            entry=entry,
            repeat=repeat,
            target=target,
            judge=judge,
            requester=self.requester,
            auth=auth,
            env=self.env,
            clock=self.clock,
            retry=self.retry,
            stop=stop,
            on_turn=on_turn,
            require_llm_judge=self.require_llm_judge,
            judge_samples=self.judge_samples,
            seed=seed,
        )
        return await execution.run()


class Targets:
    """One Target per assistant per run, created on first use and closed at the end."""

    def __init__(
        self, factories: Mapping[str, TargetFactory], auth: AuthResolver, env: Mapping[str, str]
    ) -> None:
        self._factories = factories
        self._auth = auth
        self._env = env
        self._targets: dict[str, Target] = {}
        self._lock = asyncio.Lock()

    async def get(self, entry: PlanEntry) -> Target:
        assistant = entry.assistant
        async with self._lock:
            existing = self._targets.get(assistant.id)
            if existing is not None:
                return existing
            factory = self._factories.get(assistant.env.channel)
            if factory is None:
                known = ", ".join(sorted(self._factories)) or "none"
                raise ConfigError(
                    [
                        ConfigProblem(
                            file=entry.source or None,
                            message=(
                                f"assistant {assistant.id} uses channel {assistant.env.channel!r}, "
                                f"which no installed adapter provides (installed: {known})"
                            ),
                            json_path="$.env.channel",
                        )
                    ]
                )
            ref = assistant.effective_auth_ref
            auth_config = entry.auths.get(ref) if ref else None
            if ref and auth_config is None:
                raise ConfigError(
                    [
                        ConfigProblem(
                            file=entry.source or None,
                            message=f"auth {ref!r} of assistant {assistant.id} is not loaded",
                        )
                    ]
                )
            named = self._auth.named_values(auth_config)

            async def auth_headers() -> Mapping[str, str]:
                return await self._auth.headers(auth_config)

            target = factory.create(assistant, auth_headers, {**self._env, **named})
            self._targets[assistant.id] = target
            return target

    async def aclose(self) -> None:
        for target in self._targets.values():
            try:
                await target.aclose()
            except Exception:  # a failing close must not hide the run's results
                logger.warning("target close failed", exc_info=True)


def _credential_headers(plan: RunPlan, env: Mapping[str, str]) -> list[str]:
    """The values of the assistants' credential headers (``Authorization``, ``x-api-key``),
    whatever variable, or literal, they come from."""
    values: list[str] = []
    seen: set[str] = set()
    for entry in plan.entries:
        assistant = entry.assistant
        if assistant.id in seen:
            continue
        seen.add(assistant.id)
        # Channel requests carry headers of their own (issue 10): credentials there too.
        headers = dict(assistant.env.headers)
        for spec in (
            assistant.request,
            assistant.session.start.request
            if assistant.session and assistant.session.start
            else None,
            assistant.session.close if assistant.session else None,
            assistant.websocket,
        ):
            if spec is not None:
                headers.update(spec.headers)
        for name, raw in headers.items():
            if not looks_secret(name):
                continue
            try:
                value = interpolate_env(raw, env, strict=False)
            except LamdisError:  # an environment policy refusing the name: nothing sent
                continue
            if isinstance(value, str):
                values.append(value)
    return values


def _skipped(entry: PlanEntry, repeat: int, reason: str, clock: Clock) -> Item:
    now = clock.now()
    return Item(
        test_id=entry.test.id,
        test_name=entry.test.label,
        assistant=entry.assistant.id,
        status=ItemStatus.SKIPPED,
        file=entry.source or None,
        repeat=repeat,
        error=reason or None,
        artifacts=Artifacts(log=[reason] if reason else []),
        started_at=now,
        finished_at=now,
    )


async def _notify(call: Awaitable[None]) -> None:
    try:
        await call
    except asyncio.CancelledError:
        raise
    except Exception:  # an observer's bug must not break the run
        logger.warning("run observer failed", exc_info=True)
