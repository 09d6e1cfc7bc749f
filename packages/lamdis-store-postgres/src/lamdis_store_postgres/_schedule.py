"""The ScheduleClaims port on PostgreSQL: a suite's window is claimed by one conditional
UPDATE of its document, so of several instances only the first one's update applies (the
others find ``nextRunAt`` changed once the row lock is released, and update nothing)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

_SCHEDULED = """
SELECT * FROM test_suites
WHERE jsonb_typeof(doc->'schedule') = 'object'
ORDER BY "orgId", id
"""

_CLAIM = """
UPDATE test_suites
SET doc = jsonb_set(doc, '{schedule}', (doc->'schedule') || $4::jsonb), "updatedAt" = now()
WHERE "orgId" = $1 AND id = $2
  AND jsonb_typeof(doc->'schedule') = 'object'
  AND (doc->'schedule'->>'nextRunAt') IS NOT DISTINCT FROM $3::text
"""


async def scheduled_suites(
    db: Any, to_doc: Callable[[Mapping[str, Any]], dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every suite with a ``schedule`` object; ``db`` is the catalog's ``_Database``."""

    async def body(conn: asyncpg.Connection, attempt: int) -> list[dict[str, Any]]:
        return [to_doc(row) for row in await conn.fetch(_SCHEDULED)]

    found: list[dict[str, Any]] = await db.run("catalog.scheduled_suites", body)
    return found


async def claim_schedule(
    db: Any,
    org_id: str,
    suite_id: str,
    *,
    expected_next_run_at: str | None,
    last_run_at: str | None,
    next_run_at: str,
) -> bool:
    """See ``ScheduleClaims.claim_schedule``. A retry after a lost commit finds
    ``nextRunAt`` already moved and reports ``False``: that window then has no run (at most
    once, never twice)."""
    changes: dict[str, Any] = {"nextRunAt": next_run_at}
    if last_run_at is not None:
        changes["lastRunAt"] = last_run_at

    async def body(conn: asyncpg.Connection, attempt: int) -> bool:
        status = await conn.execute(_CLAIM, org_id, suite_id, expected_next_run_at, changes)
        return bool(status == "UPDATE 1")

    claimed: bool = await db.run("catalog.claim_schedule", body)
    return claimed
