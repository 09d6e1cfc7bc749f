"""Scheduled suite runs: cron expressions, the next due time, and the use case that starts
the runs that are due.

A suite's ``schedule`` (``{enabled, periodMinutes | cron, envId?, webhookUrl?}``) says when
the hosted service runs it by itself. :func:`start_due_runs` is called by every instance on
a timer: for each enabled schedule whose ``nextRunAt`` has passed it claims the window
through the store (a compare-and-set on ``nextRunAt``, so of several instances sharing a
database exactly one wins) and queues one run with trigger ``schedule``. The next time is
computed from *now*, never from the missed time, so a window missed while every instance
was down starts one run, not a backlog. A claim whose run could not be queued (the store
failed between the two writes) loses that window: a schedule runs at most once per window.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from lamdis_core.config.checks import check_document
from lamdis_core.cron import CronExpression, parse_time, schedule_problems
from lamdis_core.domain import config as c
from lamdis_core.domain.convert import default_converter
from lamdis_core.domain.results import Run, RunStatus, Trigger
from lamdis_core.logs import get_logger
from lamdis_core.ports.schedule import ScheduleClaims
from lamdis_core.ports.store import RunStore

logger = get_logger()

__all__ = [
    "CronExpression",
    "iso_time",
    "next_run_after",
    "read_schedule",
    "schedule_problems",
    "start_due_runs",
]


def next_run_after(schedule: c.Schedule, now: datetime) -> datetime:
    """When ``schedule`` is next due after ``now``."""
    if schedule.cron is not None:
        return CronExpression.parse(schedule.cron).next_after(now)
    return now + timedelta(minutes=schedule.period_minutes or 0)


def read_schedule(suite: Mapping[str, Any]) -> c.Schedule | None:
    """The suite document's schedule, or ``None`` when it has none or an unusable one."""
    raw = suite.get("schedule")
    if not isinstance(raw, Mapping):
        return None
    normalised, errors = check_document(dict(raw), c.Schedule)
    if errors or schedule_problems(normalised):
        return None
    schedule: c.Schedule = default_converter().structure(normalised, c.Schedule)
    return schedule


def iso_time(moment: datetime) -> str:
    """``moment`` as the ISO-8601 UTC text schedules keep (``2026-03-01T02:00:00Z``)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def start_due_runs(claims: ScheduleClaims, store: RunStore, now: datetime) -> list[Run]:
    """Queue one run (trigger ``schedule``) for every enabled schedule due at ``now`` whose
    window this caller claimed; a schedule without ``nextRunAt`` gets one (no run)."""
    started: list[Run] = []
    for suite in await claims.scheduled_suites():
        org_id, suite_id = str(suite.get("orgId")), str(suite.get("id"))
        schedule = read_schedule(suite)
        if schedule is None:
            logger.warning("schedule.unusable", org_id=org_id, suite_id=suite_id)
            continue
        if not schedule.enabled:
            continue
        upcoming = iso_time(next_run_after(schedule, now))
        due = parse_time(schedule.next_run_at) if schedule.next_run_at else None
        if due is None:
            await claims.claim_schedule(
                org_id,
                suite_id,
                expected_next_run_at=schedule.next_run_at,
                last_run_at=schedule.last_run_at,
                next_run_at=upcoming,
            )
            continue
        if due > now:
            continue
        claimed = await claims.claim_schedule(
            org_id,
            suite_id,
            expected_next_run_at=schedule.next_run_at,
            last_run_at=iso_time(now),
            next_run_at=upcoming,
        )
        if not claimed:
            continue  # another instance took this window
        run = await store.create_run(
            Run(
                org_id=org_id,
                suite_id=suite_id,
                env_id=schedule.env_id,
                trigger=Trigger.SCHEDULE,
                status=RunStatus.QUEUED,
                webhook_url=schedule.webhook_url,
                request={"kind": "suite", "tests": [], "scheduledFor": schedule.next_run_at},
            )
        )
        logger.info(
            "schedule.run_started",
            org_id=org_id,
            suite_id=suite_id,
            run_id=run.id,
            due=schedule.next_run_at,
            next=upcoming,
        )
        started.append(run)
    return started
