"""Runs plans: bounded concurrency across tests, strict order within a test."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from datetime import datetime

import attrs

from lamdis_core.domain.plan import RunPlan
from lamdis_core.domain.results import Item, JudgeSummary, RunStatus, Totals, Usage
from lamdis_core.engine.observer import RunObserver
from lamdis_core.engine.retry import RetryPolicy
from lamdis_core.ports.clock import Clock, SystemClock
from lamdis_core.ports.judge import Judge
from lamdis_core.ports.requester import Requester
from lamdis_core.ports.target import TargetFactory


@attrs.define(kw_only=True)
class RunResult:
    """What a run produced. ``items`` are in plan order (entry, then repeat)."""

    items: list[Item]
    totals: Totals
    status: RunStatus
    judge: JudgeSummary
    usage: Usage
    started_at: datetime
    finished_at: datetime
    stopped: bool = False


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
    ) -> None:
        self.targets = dict(targets)
        self.judge = judge
        self.requester = requester
        self.clock = clock or SystemClock()
        self.retry = retry or RetryPolicy()
        self.env = env if env is not None else os.environ

    async def run(
        self,
        plan: RunPlan,
        *,
        concurrency: int = 8,
        repeat: int = 1,
        observer: RunObserver | None = None,
        stop: asyncio.Event | None = None,
    ) -> RunResult:
        """Run every entry ``repeat`` times, at most ``concurrency`` tests at once.

        Setting ``stop`` stops the run within one turn: tests not yet finished become
        ``skipped`` and the result is ``stopped``. Cancelling the task that awaits ``run``
        cancels in-flight turns; items finished so far have already reached ``observer``.
        A test whose target or judge keeps failing becomes an ``error`` item; the others go on.
        """
        raise NotImplementedError("being written")
