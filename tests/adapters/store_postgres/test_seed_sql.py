"""The seed's SQL (README.hosted.md, "Reading results from the database") works verbatim
against a database filled by real engine runs through the PostgreSQL store; and the plans
use the indexes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from lamdis_core.domain import config as c
from lamdis_core.domain.convert import make_converter
from lamdis_core.domain.plan import PlanEntry, RunPlan
from lamdis_core.domain.results import Run, RunStatus
from lamdis_core.ports.catalog import CatalogKind
from lamdis_core.ports.store import RunFilter
from lamdis_store_postgres import PostgresRunStore, open_store
from lamdis_store_postgres.store import list_runs_query

from tests.adapters._store_runs import run_through_store

pytestmark = pytest.mark.postgres

# Copied character for character from the seed README.
SEED_SUMMARY = """SELECT id, "orgId", "suiteId", status, "startedAt", "finishedAt", totals
FROM test_runs WHERE id = '<runId>';"""
SEED_RECENT = """SELECT id, status, "finishedAt", totals
FROM test_runs
ORDER BY "finishedAt" DESC
LIMIT 5;"""

CONVERTER = make_converter()
ASSISTANT = c.Assistant(id="bot", env=c.AssistantEnv(base_url="http://bot.invalid"))


def _plan(*tests: dict[str, Any]) -> RunPlan:
    return RunPlan(
        suite_id="legal-tests",
        entries=[
            PlanEntry(test=CONVERTER.structure(t, c.TestCase), assistant=ASSISTANT) for t in tests
        ],
    )


async def _real_run(store: PostgresRunStore, plan: RunPlan, at: datetime) -> str:
    return await run_through_store(store, plan, at, score=0.9, tokens_per_call=10, duration_s=30)


async def test_seed_queries_run_verbatim_on_a_database_filled_by_real_runs(
    postgres_dsn: str,
) -> None:
    store, catalog = await open_store({"DATABASE_URL": postgres_dsn})
    try:
        passing = _plan(
            {"id": "risk", "steps": [{"type": "message", "content": "bonds"},
                                     {"type": "includes", "includes": ["risk"]}]},
            {"id": "judged", "steps": [{"type": "message", "content": "stocks"},
                                       {"type": "assistant_check", "mode": "judge",
                                        "rubric": "mentions risk", "threshold": 0.5}]},
        )  # fmt: skip
        failing = _plan(
            {"id": "guarantee", "steps": [{"type": "message", "content": "crypto"},
                                          {"type": "includes", "includes": ["guaranteed"]}]},
            {"id": "off", "enabled": False, "steps": [{"type": "message", "content": "x"}]},
        )  # fmt: skip
        t0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
        first = await _real_run(store, passing, t0)
        second = await _real_run(store, failing, t0 + timedelta(hours=1))
        pending = await store.create_run(Run(org_id="acme", suite_id="legal-tests"))

        conn = await asyncpg.connect(postgres_dsn)  # a plain client, as a user would query
        try:
            summary = await conn.fetch(SEED_SUMMARY.replace("<runId>", second))
            recent = await conn.fetch(SEED_RECENT)
            usage = await conn.fetchrow(
                'SELECT "orgId", tokens, calls FROM usage WHERE "runId" = $1', first
            )
        finally:
            await conn.close()

        assert len(summary) == 1
        row = summary[0]
        assert (row["id"], row["orgId"], row["suiteId"]) == (second, "acme", "legal-tests")
        assert row["status"] == RunStatus.FAILED.value
        assert row["startedAt"] == t0 + timedelta(hours=1)
        assert row["finishedAt"] == t0 + timedelta(hours=1, seconds=30)
        assert json.loads(row["totals"]) == {"passed": 0, "failed": 1, "skipped": 1, "errors": 0}

        # PostgreSQL sorts NULL first in DESC order: the run not yet finished leads, as in
        # lamdis-runs, then the finished runs newest first.
        assert [r["id"] for r in recent] == [pending.id, second, first]
        assert [r["status"] for r in recent] == ["queued", "failed", "passed"]
        assert json.loads(recent[2]["totals"])["passed"] == 2

        assert usage is not None
        assert (usage["orgId"], usage["tokens"], usage["calls"]) == ("acme", 10, 1)

        full = await store.get_run(first)
        assert full is not None
        # Items are stored as they finish; the two tests run concurrently.
        by_test = {i.test_id: i for i in full.items}
        assert sorted(by_test) == ["judged", "risk"] and len(full.items) == 2
        assert by_test["judged"].assertions[0].details["score"] == 0.9
        assert full.judge.avg_score == 0.9
        assert full.usage.tokens == 10
        assert await catalog.list(CatalogKind.SUITES, "acme") == []
    finally:
        await store.aclose()


async def _fill_runs(dsn: str, count: int) -> None:
    """Insert ``count`` finished runs over four orgs directly (fast), then ANALYZE."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            """
            INSERT INTO test_runs (id, "orgId", "suiteId", status, "createdAt", "startedAt",
                                   "finishedAt", totals)
            SELECT lpad(to_hex(g), 24, '0'), 'org-' || (g % 40), 'suite-' || (g % 100),
                   (ARRAY['passed', 'failed', 'partial'])[1 + g % 3],
                   now() - make_interval(mins => g), now() - make_interval(mins => g),
                   now() - make_interval(mins => g) + interval '30 seconds',
                   '{"passed": 1, "failed": 0, "skipped": 0, "errors": 0}'
            FROM generate_series(1, $1) AS g
            """,
            count,
        )
        await conn.execute("ANALYZE test_runs")
    finally:
        await conn.close()


async def test_seed_recent_runs_query_uses_the_finished_at_index(postgres_dsn: str) -> None:
    await _fill_runs(postgres_dsn, 5000)
    conn = await asyncpg.connect(postgres_dsn)
    try:
        plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN " + SEED_RECENT))
        rows = await conn.fetch(SEED_RECENT)
    finally:
        await conn.close()
    assert "test_runs_finished_idx" in plan, plan
    assert "Sort" not in plan.split("Index Scan")[0], plan
    assert len(rows) == 5


@pytest.mark.parametrize(
    ("run_filter", "in_index_order"),
    [
        (RunFilter(limit=5), True),
        (RunFilter(org_id="org-1", limit=5), True),
        (RunFilter(suite_id="suite-3", limit=5), True),
        (RunFilter(status=RunStatus.PARTIAL, limit=5), True),
        # several filters: the planner may AND two indexes and sort the few rows left
        (RunFilter(org_id="org-1", suite_id="suite-1", status=RunStatus.FAILED, limit=5), False),
    ],
)
async def test_list_runs_never_scans_the_table(
    postgres_dsn: str, run_filter: RunFilter, in_index_order: bool
) -> None:
    """list_runs reads an index; with one filter the newest rows come off it already sorted."""
    await _fill_runs(postgres_dsn, 5000)
    store, _ = await open_store({"DATABASE_URL": postgres_dsn})
    try:
        query = list_runs_query(run_filter)
        assert query is not None
        sql, args = query
        async with store.pool.acquire() as conn:
            plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN " + sql, *args))
        listed = await store.list_runs(run_filter)
    finally:
        await store.aclose()
    assert "Index Scan" in plan, plan
    assert "Seq Scan" not in plan, plan
    if in_index_order:
        assert "Sort" not in plan, plan
    assert 1 <= len(listed) <= 5
    created = [r.created_at for r in listed]
    assert created == sorted(created, reverse=True)
