"""The ScheduleClaims port: suites that carry a ``schedule``, and the claim of a due window."""

from __future__ import annotations

from typing import Any, Protocol


class ScheduleClaims(Protocol):
    """Scheduled suites across every organization, and the compare-and-set that makes one
    instance (of several sharing a database) the one that starts a due run.

    Catalog adapters implement it beside the Catalog port.
    """

    async def scheduled_suites(self) -> list[dict[str, Any]]:
        """Every suite document (with ``orgId``) that has a ``schedule`` object."""
        ...

    async def claim_schedule(
        self,
        org_id: str,
        suite_id: str,
        *,
        expected_next_run_at: str | None,
        last_run_at: str | None,
        next_run_at: str,
    ) -> bool:
        """Set the suite's ``schedule.lastRunAt``/``schedule.nextRunAt`` only if its
        ``schedule.nextRunAt`` is still ``expected_next_run_at`` (``None``: not set), in one
        atomic step. ``True`` for the one caller whose update applied; every other caller
        that expected the same value gets ``False``, as does a suite that is gone."""
        ...
