"""Scheduled suites end to end: two service instances on one PostgreSQL database, a suite
scheduled every minute through PATCH, and a clock the test moves window by window. Exactly
one run per window whichever instance looks first, one run after a long gap (not a backlog),
each run finished and its webhook delivered like any other."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from lamdis_core.offline_judge import OfflineJudge
from lamdis_core.ports.clock import SystemClock
from lamdis_core.service import import_config_tree
from lamdis_http.app import CATALOG_KEY
from lamdis_http.bootstrap import Settings, build_app

from tests.http.conftest import ORG, Service
from tests.http.test_files_and_webhooks import Receiver, receiver

__all__ = ["receiver"]  # the fixture, shared


class MovableClock(SystemClock):
    """Real sleeps and monotonic time; ``now()`` is the real time plus what the test added."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


async def _eventually(check: Callable[[], Awaitable[bool]], what: str, seconds: float = 15) -> None:
    for _ in range(int(seconds / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def _scheduled_runs(client: Any) -> list[dict[str, Any]]:
    resp = await client.get("/internal/runs", params={"suiteId": "smoke", "limit": "50"})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    items = body["runs"]
    return [r for r in items if r.get("trigger") == "schedule"]


@pytest.mark.postgres
async def test_two_instances_on_postgres_start_exactly_one_run_per_window(
    aiohttp_client: Any, postgres_dsn: str, config_dir: Path, receiver: Receiver
) -> None:
    clock = MovableClock()
    settings = Settings.from_env(
        {
            "DATABASE_URL": postgres_dsn,
            "LAMDIS_CONFIG_DIR": str(config_dir),
            "LAMDIS_SCHEDULE_SECONDS": "0.05",
            "LAMDIS_LEASE_SECONDS": "3600",  # the test moves the clock by minutes
            "LAMDIS_DRAIN_SECONDS": "0",
        }
    )
    apps = [
        build_app(
            settings,
            clock=clock,
            judge=OfflineJudge(),
            worker_id=f"instance-{n}",
            poll_seconds=0.05,
        )
        for n in range(2)
    ]
    first, second = [await aiohttp_client(app) for app in apps]
    await import_config_tree(apps[0][CATALOG_KEY], config_dir, org_id=ORG)

    bad = await first.patch(f"/orgs/{ORG}/suites/smoke", json={"schedule": {"periodMinutes": 0.5}})
    assert bad.status == 400 and (await bad.json())["field"] == "schedule.periodMinutes"
    bad = await first.patch(f"/orgs/{ORG}/suites/smoke", json={"schedule": {"cron": "every day"}})
    assert bad.status == 400 and (await bad.json())["field"] == "schedule.cron"

    before = clock.now()
    resp = await first.patch(
        f"/orgs/{ORG}/suites/smoke",
        json={"schedule": {"enabled": True, "periodMinutes": 1, "webhookUrl": receiver.url}},
    )
    after = clock.now()
    assert resp.status == 200, await resp.text()
    stored = await resp.json()
    next_at = datetime.fromisoformat(stored["schedule"]["nextRunAt"].replace("Z", "+00:00"))
    # A minute from when the patch was handled, however long that took on a loaded machine.
    minute, slack = timedelta(seconds=60), timedelta(seconds=1)
    assert before + minute - slack <= next_at <= after + minute + slack
    assert stored["assistants"], "the patch keeps the rest of the suite"
    await asyncio.sleep(0.3)
    assert await _scheduled_runs(first) == []  # not due yet

    for window, jump in enumerate(
        [timedelta(seconds=61), timedelta(seconds=61), timedelta(minutes=30)]
    ):
        clock.offset += jump
        expected = window + 1

        async def started(n: int = expected) -> bool:
            return len(await _scheduled_runs(second)) >= n

        await _eventually(started, f"scheduled run {expected}")
        await asyncio.sleep(0.5)  # both instances have looked several times since
        assert len(await _scheduled_runs(first)) == expected

    suite = await (await second.get(f"/orgs/{ORG}/suites/smoke")).json()
    assert (
        suite["schedule"]["lastRunAt"]
        and suite["schedule"]["nextRunAt"] > suite["schedule"]["lastRunAt"]
    )

    async def all_delivered() -> bool:
        runs = await _scheduled_runs(first)
        return all(r["status"] == "passed" for r in runs) and len(receiver.received) >= 3

    await _eventually(all_delivered, "three finished runs and their webhooks", seconds=60)
    payloads = [json.loads(body) for _, body in receiver.received]
    assert len(payloads) == 3
    assert {p.get("runId") or p.get("id") for p in payloads} == {
        r["id"] for r in await _scheduled_runs(first)
    }


async def test_patch_sets_and_clears_a_schedule_and_refuses_bad_ones(service: Service) -> None:
    client = service.client
    resp = await client.patch(
        f"/orgs/{ORG}/suites/smoke", json={"schedule": {"cron": "0 2 * * *", "envId": "demo"}}
    )
    assert resp.status == 200, await resp.text()
    schedule = (await resp.json())["schedule"]
    assert schedule["nextRunAt"].endswith("T02:00:00Z") and schedule.get("enabled", True) is True
    resp = await client.patch(f"/orgs/{ORG}/suites/smoke", json={"schedule": {"enabled": False}})
    assert (await resp.json())["schedule"]["cron"] == "0 2 * * *"  # merged, not replaced
    resp = await client.patch(f"/orgs/{ORG}/suites/smoke", json={"schedule": None})
    assert "schedule" not in await resp.json()
    for body, field in [
        ({"schedule": {"periodMinutes": 0}}, "schedule.periodMinutes"),
        ({"schedule": {"cron": "* * * *"}}, "schedule.cron"),
        ({"schedule": {"periodMinutes": 5, "cron": "* * * * *"}}, "schedule.cron"),
        ({"id": "other"}, "id"),
    ]:
        resp = await client.patch(f"/orgs/{ORG}/suites/smoke", json=body)
        assert resp.status == 400, body
        assert (await resp.json())["field"] == field
    assert (await client.patch(f"/orgs/{ORG}/suites/nope", json={})).status == 404
