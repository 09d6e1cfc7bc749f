"""The shared contract of ``lamdis_core.ports.schedule.ScheduleClaims``, held against every
catalog that implements it (in-memory, PostgreSQL, MongoDB)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from lamdis_core.ports.catalog import CatalogKind

DUE = "2026-03-02T08:00:00Z"
NEXT = "2026-03-02T08:01:00Z"


class ScheduleClaimsContract:
    """Subclasses provide a ``catalog`` fixture: an empty catalog that is also ScheduleClaims."""

    @pytest.fixture
    def catalog(self) -> Any:
        raise NotImplementedError("subclass ScheduleClaimsContract and provide `catalog`")

    async def _suite(self, catalog: Any, suite_id: str = "nightly", **schedule: Any) -> None:
        doc: dict[str, Any] = {"id": suite_id, "tests": {"includeIds": ["t"]}}
        if schedule:
            doc["schedule"] = schedule
        await catalog.upsert(CatalogKind.SUITES, "org-1", doc)

    async def _schedule(self, catalog: Any) -> dict[str, Any]:
        doc = await catalog.get(CatalogKind.SUITES, "org-1", "nightly")
        schedule: dict[str, Any] = doc["schedule"]
        return schedule

    async def test_scheduled_suites_lists_only_suites_with_a_schedule(self, catalog: Any) -> None:
        """Suites of every organization with a schedule object, each with its orgId."""
        await self._suite(catalog, periodMinutes=5)
        await self._suite(catalog, "plain")
        await catalog.upsert(CatalogKind.TESTS, "org-1", {"id": "t", "schedule": {"x": 1}})
        found = await catalog.scheduled_suites()
        assert [(s["orgId"], s["id"]) for s in found] == [("org-1", "nightly")]
        assert found[0]["schedule"] == {"periodMinutes": 5}

    async def test_a_claim_applies_once_for_the_expected_next_time(self, catalog: Any) -> None:
        """The first claim expecting the current nextRunAt applies; a repeat does not."""
        await self._suite(catalog, periodMinutes=1, nextRunAt=DUE)
        assert await catalog.claim_schedule(
            "org-1", "nightly", expected_next_run_at=DUE, last_run_at=DUE, next_run_at=NEXT
        )
        assert await self._schedule(catalog) == {
            "periodMinutes": 1,
            "nextRunAt": NEXT,
            "lastRunAt": DUE,
        }
        assert not await catalog.claim_schedule(
            "org-1", "nightly", expected_next_run_at=DUE, last_run_at=DUE, next_run_at=NEXT
        )

    async def test_concurrent_claims_of_one_window_apply_exactly_once(self, catalog: Any) -> None:
        """Of many callers expecting the same nextRunAt, exactly one wins."""
        await self._suite(catalog, periodMinutes=1, nextRunAt=DUE)
        won = await asyncio.gather(
            *(
                catalog.claim_schedule(
                    "org-1", "nightly", expected_next_run_at=DUE, last_run_at=DUE, next_run_at=NEXT
                )
                for _ in range(10)
            )
        )
        assert won.count(True) == 1

    async def test_a_schedule_without_next_time_is_claimed_expecting_none(
        self, catalog: Any
    ) -> None:
        """expected None matches a schedule with no nextRunAt; lastRunAt None keeps it."""
        await self._suite(catalog, periodMinutes=1, lastRunAt=DUE)
        assert await catalog.claim_schedule(
            "org-1", "nightly", expected_next_run_at=None, last_run_at=None, next_run_at=NEXT
        )
        assert (await self._schedule(catalog))["lastRunAt"] == DUE
        assert (await self._schedule(catalog))["nextRunAt"] == NEXT

    async def test_a_claim_on_a_missing_or_unscheduled_suite_is_false(self, catalog: Any) -> None:
        """No suite, or a suite without a schedule: nothing to claim."""
        await self._suite(catalog, "plain")
        for suite in ("plain", "missing"):
            assert not await catalog.claim_schedule(
                "org-1", suite, expected_next_run_at=None, last_run_at=None, next_run_at=NEXT
            )
