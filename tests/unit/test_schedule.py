"""Scheduled suites in the service layer, with a fake clock and the in-memory store: a due
window starts exactly one run however many instances look, a missed stretch starts one run
not a backlog, cron expressions, and bad schedules named."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lamdis_core.config.checks import check_document
from lamdis_core.domain import config as c
from lamdis_core.domain.results import Trigger
from lamdis_core.ports.catalog import CatalogKind
from lamdis_core.ports.store import RunFilter
from lamdis_core.schedule import CronExpression, next_run_after, start_due_runs
from lamdis_core.testing.fakes import FakeClock
from lamdis_core.testing.memory import InMemoryCatalog, InMemoryRunStore

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("cron", "after", "due"),
    [
        ("* * * * *", "2026-03-02T08:00:30", "2026-03-02T08:01:00"),
        ("*/15 * * * *", "2026-03-02T08:01:00", "2026-03-02T08:15:00"),
        ("0 2 * * *", "2026-03-02T08:00:00", "2026-03-03T02:00:00"),
        ("30 9 * * 1-5", "2026-03-06T10:00:00", "2026-03-09T09:30:00"),  # Fri -> Mon
        ("0 0 1 * *", "2026-12-15T00:00:00", "2027-01-01T00:00:00"),
        ("0 12 * * 0", "2026-03-02T08:00:00", "2026-03-08T12:00:00"),  # Sunday as 0
        ("0 12 * * 7", "2026-03-02T08:00:00", "2026-03-08T12:00:00"),  # and as 7
        ("0 0 13 * 5", "2026-03-02T08:00:00", "2026-03-06T00:00:00"),  # the 13th OR a Friday
        ("5,35 8-9 * 3 *", "2026-03-02T09:40:00", "2026-03-03T08:05:00"),
    ],
)
def test_cron_next_due_minute(cron: str, after: str, due: str) -> None:
    assert CronExpression.parse(cron).next_after(at(after)) == at(due)


@pytest.mark.parametrize(
    ("schedule", "field", "said"),
    [
        ({"periodMinutes": 0.5}, "periodMinutes", "at least 1 (one minute), got 0.5"),
        ({"periodMinutes": 0}, "periodMinutes", "at least 1"),
        ({"cron": "* * *"}, "cron", "a cron expression has 5 fields"),
        ({"cron": "61 * * * *"}, "cron", "minute: '61' is outside 0-59"),
        ({"cron": "0 0 31 2 *"}, "cron", "never matches a date"),
        ({"cron": "*/0 * * * *"}, "cron", "the step in '*/0' must be a whole number >= 1"),
        ({"enabled": True}, "periodMinutes", "needs periodMinutes (>= 1) or a cron"),
        ({"periodMinutes": 5, "cron": "* * * * *"}, "cron", "not both"),
        ({"periodMinutes": 5, "nextRunAt": "soon"}, "nextRunAt", "ISO-8601"),
    ],
)
def test_bad_schedules_name_the_field_and_what_was_expected(
    schedule: dict[str, Any], field: str, said: str
) -> None:
    _, errors = check_document({"id": "s", "schedule": schedule}, c.Suite)
    assert [m for p, m in errors if p == f"$.schedule.{field}" and said in m], errors


def test_period_and_cron_schedules_know_their_next_time() -> None:
    assert next_run_after(c.Schedule(period_minutes=1), T0) == T0 + timedelta(minutes=1)
    assert next_run_after(c.Schedule(cron="0 * * * *"), T0) == T0 + timedelta(hours=1)


async def scheduled(catalog: InMemoryCatalog, **schedule: Any) -> None:
    await catalog.upsert(
        CatalogKind.SUITES,
        "acme",
        {"id": "nightly", "tests": {"includeIds": ["t"]}, "schedule": schedule},
    )


async def schedule_of(catalog: InMemoryCatalog) -> dict[str, Any]:
    doc = await catalog.get(CatalogKind.SUITES, "acme", "nightly")
    assert doc is not None
    schedule: dict[str, Any] = doc["schedule"]
    return schedule


async def runs(store: InMemoryRunStore) -> list[Any]:
    return await store.list_runs(RunFilter(limit=100))


async def test_a_schedule_gets_its_next_time_then_starts_one_run_per_window() -> None:
    clock, catalog, store = FakeClock(T0), InMemoryCatalog(), InMemoryRunStore()
    await scheduled(catalog, periodMinutes=1, webhookUrl="http://127.0.0.1:9/hook", envId="e1")
    assert await start_due_runs(catalog, store, clock.now()) == []
    assert (await schedule_of(catalog))["nextRunAt"] == "2026-03-02T08:01:00Z"

    clock.advance(59)
    assert await start_due_runs(catalog, store, clock.now()) == []  # not yet due
    clock.advance(1)
    [run] = await start_due_runs(catalog, store, clock.now())
    assert run.trigger is Trigger.SCHEDULE and run.suite_id == "nightly" and run.org_id == "acme"
    assert run.webhook_url == "http://127.0.0.1:9/hook" and run.env_id == "e1"
    assert await start_due_runs(catalog, store, clock.now()) == []  # the window is taken
    state = await schedule_of(catalog)
    assert state["lastRunAt"] == "2026-03-02T08:01:00Z"
    assert state["nextRunAt"] == "2026-03-02T08:02:00Z"
    assert len(await runs(store)) == 1


async def test_many_instances_looking_at_once_start_exactly_one_run() -> None:
    clock, catalog, store = FakeClock(T0), InMemoryCatalog(), InMemoryRunStore()
    await scheduled(catalog, periodMinutes=1, nextRunAt="2026-03-02T08:00:00Z")
    started = await asyncio.gather(*(start_due_runs(catalog, store, clock.now()) for _ in range(8)))
    assert sum(len(s) for s in started) == 1
    assert len(await runs(store)) == 1


async def test_a_missed_stretch_starts_one_run_not_a_backlog() -> None:
    clock, catalog, store = FakeClock(T0), InMemoryCatalog(), InMemoryRunStore()
    await scheduled(catalog, periodMinutes=1, nextRunAt="2026-03-02T08:01:00Z")
    clock.advance(3 * 3600)  # every instance was down for three hours
    assert len(await start_due_runs(catalog, store, clock.now())) == 1
    assert len(await start_due_runs(catalog, store, clock.now())) == 0
    assert (await schedule_of(catalog))["nextRunAt"] == "2026-03-02T11:01:00Z"
    clock.advance(60)
    assert len(await start_due_runs(catalog, store, clock.now())) == 1


async def test_disabled_and_unusable_schedules_start_nothing() -> None:
    clock, catalog, store = FakeClock(T0), InMemoryCatalog(), InMemoryRunStore()
    await scheduled(catalog, enabled=False, periodMinutes=1, nextRunAt="2026-03-01T00:00:00Z")
    await catalog.upsert(
        CatalogKind.SUITES, "acme", {"id": "broken", "schedule": {"periodMinutes": 0}}
    )
    assert await start_due_runs(catalog, store, clock.now()) == []
    assert await runs(store) == []


async def test_a_cron_schedule_runs_at_its_minutes() -> None:
    clock, catalog, store = FakeClock(T0), InMemoryCatalog(), InMemoryRunStore()
    await scheduled(catalog, cron="30 8 * * *")
    await start_due_runs(catalog, store, clock.now())
    assert (await schedule_of(catalog))["nextRunAt"] == "2026-03-02T08:30:00Z"
    clock.advance(30 * 60)
    assert len(await start_due_runs(catalog, store, clock.now())) == 1
    assert (await schedule_of(catalog))["nextRunAt"] == "2026-03-03T08:30:00Z"
