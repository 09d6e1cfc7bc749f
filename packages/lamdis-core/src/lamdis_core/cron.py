"""Cron expressions and the checks of a suite's ``schedule`` object: pure functions the config
checker (:mod:`lamdis_core.config`) and the scheduler (:mod:`lamdis_core.schedule`) share.
Kept apart from the scheduler, which uses the checker, so the two do not import each other."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from lamdis_core.domain.base import Value

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


@attrs.frozen(repr=False, eq=False)
class CronExpression(Value):
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
        if isinstance(schedule.get(key), str) and parse_time(schedule[key]) is None:
            problems.append((key, f"{key} must be an ISO-8601 time, got {schedule[key]!r}"))
    return problems


def parse_time(text: str) -> datetime | None:
    """An ISO-8601 time (``Z`` or an offset; naive means UTC), or ``None`` if ``text`` is not one."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
