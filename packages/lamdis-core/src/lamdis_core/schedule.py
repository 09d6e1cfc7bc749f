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

import attrs
import structlog

from lamdis_core.domain import config as c
from lamdis_core.domain.convert import default_converter
from lamdis_core.domain.results import Run, RunStatus, Trigger
from lamdis_core.ports.schedule import ScheduleClaims
from lamdis_core.ports.store import RunStore

logger = structlog.get_logger()

__all__ = [
    "CronExpression",
    "iso_time",
    "next_run_after",
    "read_schedule",
    "schedule_problems",
    "start_due_runs",
]

_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12),
           ("day of week", 0, 7))  # fmt: skip


def _field(text: str, name: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) < 1:
                raise ValueError(f"{name}: the step in {part!r} must be a whole number >= 1")
            step = int(step_text)
        if body == "*":
            first, last = low, high
        elif "-" in body:
            a, _, b = body.partition("-")
            if not (a.isdigit() and b.isdigit()):
                raise ValueError(f"{name}: {part!r} is not a range like 1-5")
            first, last = int(a), int(b)
        elif body.isdigit():
            first = last = int(body)
            if step_text:
                last = high
        else:
            raise ValueError(f"{name}: {part!r} is not *, a number, a range or a list")
        if not low <= first <= last <= high:
            raise ValueError(f"{name}: {part!r} is outside {low}-{high}")
        values.update(range(first, last + 1, step))
    return frozenset(values)


@attrs.frozen
class CronExpression:
    """A five-field cron expression (minute hour day-of-month month day-of-week), in UTC.

    Fields take ``*``, numbers, ranges (``1-5``), steps (``*/15``, ``0-30/10``) and lists
    (``1,15``); day of week is 0-7 with 0 and 7 both Sunday. When both day fields are
    restricted a day matching either one is due, as in cron.
    """

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, text: str) -> CronExpression:
        """Raises ``ValueError`` saying which field is wrong and what it may hold."""
        parts = text.split()
        if len(parts) != 5:
            raise ValueError(
                f"a cron expression has 5 fields (minute hour day-of-month month "
                f"day-of-week), got {len(parts)} in {text!r}"
            )
        sets = [_field(p, *spec) for p, spec in zip(parts, _FIELDS, strict=True)]
        weekdays = frozenset(d % 7 for d in sets[4])  # 7 is Sunday too
        return cls(
            text=text,
            minutes=sets[0],
            hours=sets[1],
            days=sets[2],
            months=sets[3],
            weekdays=weekdays,
            any_day=parts[2] == "*",
            any_weekday=parts[4] == "*",
        )

    def _day_matches(self, moment: datetime) -> bool:
        weekday = (moment.weekday() + 1) % 7  # cron: 0 is Sunday
        by_day = moment.day in self.days
        by_weekday = weekday in self.weekdays
        if self.any_day or self.any_weekday:
            return by_day and by_weekday
        return by_day or by_weekday

    def next_after(self, moment: datetime) -> datetime:
        """The first due minute strictly after ``moment`` (UTC).

        Raises:
            ValueError: the expression never matches (``0 0 31 2 *``).
        """
        current = moment.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = current + timedelta(days=366 * 5)
        while current < limit:
            if current.month not in self.months:
                year = current.year + (current.month == 12)
                current = current.replace(year=year, month=current.month % 12 + 1, day=1,
                                          hour=0, minute=0)  # fmt: skip
            elif not self._day_matches(current):
                current = (current + timedelta(days=1)).replace(hour=0, minute=0)
            elif current.hour not in self.hours:
                current = (current + timedelta(hours=1)).replace(minute=0)
            elif current.minute not in self.minutes:
                current += timedelta(minutes=1)
            else:
                return current
        raise ValueError(f"the cron expression {self.text!r} never matches a date")


def schedule_problems(schedule: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(field, message)`` for what is wrong in a checked ``schedule`` object."""
    period, cron = schedule.get("periodMinutes"), schedule.get("cron")
    problems: list[tuple[str, str]] = []
    if period is None and cron is None:
        problems.append(
            ("periodMinutes", "a schedule needs periodMinutes (>= 1) or a cron expression")
        )
    if period is not None and cron is not None:
        problems.append(("cron", "give periodMinutes or cron, not both"))
    if isinstance(period, int | float) and not isinstance(period, bool) and period < 1:
        problems.append(
            ("periodMinutes", f"periodMinutes must be at least 1 (one minute), got {period}")
        )
    if isinstance(cron, str):
        try:
            CronExpression.parse(cron).next_after(datetime(2000, 1, 1, tzinfo=UTC))
        except ValueError as exc:
            problems.append(("cron", f"invalid cron expression: {exc}"))
    for key in ("lastRunAt", "nextRunAt"):
        if isinstance(schedule.get(key), str) and _parse_time(schedule[key]) is None:
            problems.append((key, f"{key} must be an ISO-8601 time, got {schedule[key]!r}"))
    return problems


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
    from lamdis_core.config.checks import check_document

    normalised, errors = check_document(dict(raw), c.Schedule)
    if errors or schedule_problems(normalised):
        return None
    schedule: c.Schedule = default_converter().structure(normalised, c.Schedule)
    return schedule


def iso_time(moment: datetime) -> str:
    """``moment`` as the ISO-8601 UTC text schedules keep (``2026-03-01T02:00:00Z``)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_time(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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
        due = _parse_time(schedule.next_run_at) if schedule.next_run_at else None
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
