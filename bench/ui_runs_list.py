"""Benchmark of the web UI's runs list over 100,000 runs in PostgreSQL (issue 12, "Performance"),
and of the API's (``GET /internal/runs``) at the same depth by cursor and by offset.

The list pages by position (``before``/``after`` cursors on ``("createdAt", seq)``); before it
paged with an offset. This measures both at a deep page, through the store (the query the page
sends, decoding included) and through the page itself (``GET /ui/``, server time from a
middleware, so the render is included), plus every filter of the page on its own.

It starts its own throwaway PostgreSQL cluster (the tests' fixture code), migrates it, and
writes the runs straight into ``test_runs`` with COPY: 3 organizations, 20 suites, 3
environments, 60 branches, one commit per run, a year of creation times, most runs finished.

Usage: ``python bench/ui_runs_list.py [--runs N] [--repeat N] [--depth N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lamdis_core.domain.results import (  # noqa: E402  (after sys.path)
    JudgeSummary,
    Run,
    RunStatus,
    Totals,
    Trigger,
    Usage,
)
from lamdis_core.offline_judge import OfflineJudge  # noqa: E402
from lamdis_core.ports.store import RunCursor, RunFilter  # noqa: E402
from lamdis_core.service import encode_cursor  # noqa: E402
from lamdis_http.bootstrap import Settings, build_app  # noqa: E402
from lamdis_http.ui.web import PAGE_SIZE  # noqa: E402
from lamdis_store_postgres import migrate, open_store  # noqa: E402
from lamdis_store_postgres.store import list_runs_query  # noqa: E402

from tests.fixtures.postgres import PostgresCluster  # noqa: E402

START = datetime(2025, 11, 30, tzinfo=UTC)
STATUSES = ["passed"] * 70 + ["failed"] * 20 + ["partial"] * 5 + ["stopped"] * 4 + ["running"]


def _pct(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def _records(runs: int) -> list[tuple[Any, ...]]:
    rng = random.Random(12)
    span = 365 * 24 * 3600
    rows = []
    for n in range(runs):
        created = START + timedelta(seconds=span * n / runs + rng.random())
        status = rng.choice(STATUSES)
        total = rng.randint(5, 60)
        failed = rng.randint(1, 4) if status == "failed" else 0
        passed = total - failed
        git = {
            "provider": "github",
            "repo": "acme/assistant",
            "sha": secrets.token_hex(20),
            "branch": "main" if rng.random() < 0.5 else f"feature/{rng.randint(1, 59)}",
        }
        rows.append(
            (
                f"{int(created.timestamp()) & 0xFFFFFFFF:08x}{secrets.token_hex(8)}",
                f"org-{n % 3}",
                f"suite-{rng.randint(0, 19)}",
                f"env-{rng.randint(0, 2)}",
                "schedule" if rng.random() < 0.1 else "ci",
                json.dumps(git),
                status,
                created,
                created + timedelta(seconds=1),
                None if status == "running" else created + timedelta(seconds=rng.randint(20, 900)),
                json.dumps({"passed": passed, "failed": failed, "skipped": 0, "errors": 0}),
                json.dumps({"avgScore": round(rng.random(), 3), "provider": "offline"}),
                json.dumps({"tokens": rng.randint(1000, 90000), "calls": total * 3}),
            )
        )
    return rows


async def seed(dsn: str, runs: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table(
            "test_runs",
            records=_records(runs),
            columns=[
                "id", "orgId", "suiteId", "envId", "trigger", "gitContext", "status",
                "createdAt", "startedAt", "finishedAt", "totals", "judge", "usage",
            ],
        )  # fmt: skip
        await conn.execute("ANALYZE test_runs")
    finally:
        await conn.close()


async def _time(repeat: int, call: Any) -> list[float]:
    await call()  # warm: first-use plans and pages, not counted
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        await call()
        times.append((time.perf_counter() - t0) * 1000)
    return times


async def seed_mongo(store: Any, runs: int) -> None:
    """The same runs as ``seed``, inserted into the Mongo store's collection in batches."""
    from bson import ObjectId

    batch: list[dict[str, Any]] = []
    for record in _records(runs):
        (_, org, suite, env, trigger, git, status, created, started, finished) = record[:10]
        totals, judge, usage = (json.loads(v) for v in record[10:])
        run = Run(
            org_id=org,
            suite_id=suite,
            env_id=env,
            trigger=Trigger(trigger),
            git_context=json.loads(git),
            status=RunStatus(status),
            started_at=started,
            finished_at=finished,
            totals=Totals(**totals),
            judge=JudgeSummary(avg_score=judge["avgScore"], provider=judge["provider"]),
            usage=Usage(tokens=usage["tokens"], calls=usage["calls"]),
        )
        batch.append(store._run_doc(run, ObjectId.from_datetime(created), created))
        if len(batch) == 1000:
            await store.database["testruns"].insert_many(batch)
            batch = []
    if batch:
        await store.database["testruns"].insert_many(batch)


async def bench(
    store: Any, catalog: Any, runs: int, repeat: int, depth: int, dsn: str | None
) -> dict[str, Any]:
    """``dsn``: the PostgreSQL database's, for the plans (none on FerretDB)."""
    rows: list[tuple[str, list[float], str]] = []
    plans: dict[str, str] = {}
    summaries: dict[str, str] = {}
    # The run at the deep page's edge: what the Older link of page depth/25 carries.
    edge = (await store.list_runs(RunFilter(limit=1, offset=depth)))[0]
    cursor = RunCursor.of(edge)
    deep_offset = RunFilter(limit=PAGE_SIZE + 1, offset=depth + 1)
    deep_cursor = RunFilter(limit=PAGE_SIZE + 1, before=cursor)
    assert [r.id for r in await store.list_runs(deep_offset)] == [
        r.id for r in await store.list_runs(deep_cursor)
    ], "offset and cursor pages differ"
    for label, run_filter in (
        (f"store: page at run {depth:,} by offset", deep_offset),
        (f"store: page at run {depth:,} by cursor", deep_cursor),
    ):
        times = await _time(repeat, lambda f=run_filter: store.list_runs(f))
        rows.append((label, times, ""))
    suite_edge = (await store.list_runs(RunFilter(suite_id="suite-7", offset=runs // 40)))[0]
    suite_cursor = RunFilter(
        suite_id="suite-7", limit=PAGE_SIZE + 1, before=RunCursor.of(suite_edge)
    )
    conn = await asyncpg.connect(dsn) if dsn else None
    try:
        for label, run_filter in (
            ()
            if conn is None
            else (
                ("offset", deep_offset),
                ("cursor", deep_cursor),
                ("cursor within a suite", suite_cursor),
            )
        ):
            query = list_runs_query(run_filter)
            assert query is not None
            sql, args = query
            plan = await conn.fetch("EXPLAIN (ANALYZE, COSTS OFF, BUFFERS) " + sql, *args)
            plans[label] = "\n".join(r[0] for r in plan)
        sample = edge.git_context["sha"][:7]
        day = datetime(2026, 5, 30, tzinfo=UTC)
        for label, run_filter in (
            ()
            if conn is None
            else (
                ("environment", RunFilter(env_id="env-1", limit=26)),
                (
                    "organization + status failed",
                    RunFilter(org_id="org-2", status=RunStatus.FAILED, limit=26),
                ),
                ("trigger schedule", RunFilter(trigger=Trigger.SCHEDULE, limit=26)),
                ("branch", RunFilter(branch=edge.git_context["branch"], limit=26)),
                ("commit", RunFilter(commit=sample, limit=26)),
                (
                    "one day",
                    RunFilter(created_from=day, created_before=day + timedelta(days=1), limit=26),
                ),
                ("status running", RunFilter(status=RunStatus.RUNNING, limit=26)),
            )
        ):
            query = list_runs_query(run_filter)
            assert query is not None
            plan = await conn.fetch("EXPLAIN (ANALYZE, COSTS OFF) " + query[0], *query[1])
            lines = [r[0] for r in plan]
            scans = [ln.strip().split(" (")[0] for ln in lines if "Scan" in ln]
            execution = next(ln for ln in lines if ln.startswith("Execution Time"))
            summaries[label] = f"{'; '.join(scans)} — {execution}"
    finally:
        if conn is not None:
            await conn.close()

    with tempfile.TemporaryDirectory() as config_dir:
        app = build_app(
            Settings(config_dir=Path(config_dir), env={}),
            store=store,
            catalog=catalog,
            judge=OfflineJudge(),  # type: ignore[arg-type]
            start_worker=False,
        )
        server_ms: list[float] = []

        @web.middleware
        async def timing(request: web.Request, handler: Any) -> web.StreamResponse:
            t0 = time.perf_counter()
            try:
                return await handler(request)
            finally:
                server_ms.append((time.perf_counter() - t0) * 1000)

        app.middlewares.insert(0, timing)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
        base = f"http://127.0.0.1:{port}/ui/"
        sample = edge.git_context["sha"][:7]
        branch = edge.git_context["branch"]
        older = encode_cursor(RunCursor.of(edge))
        api = f"http://127.0.0.1:{port}/internal/runs?limit={PAGE_SIZE}"
        api_pages = [
            ("api: first page", ""),
            (f"api: page at run {depth:,} by offset", f"&offset={depth + 1}"),
            (f"api: page at run {depth:,} by cursor (nextCursor)", f"&before={older}"),
        ]
        pages = [
            ("page: first", ""),
            (f"page: at run {depth:,} (Older link)", f"?before={older}"),
            ("page: suite", "?suite=suite-7"),
            (f"page: suite, at its run {runs // 40:,}", None),
            ("page: environment", "?env=env-1"),
            ("page: organization + status failed", "?org=org-2&status=failed"),
            ("page: trigger schedule", "?trigger=schedule"),
            ("page: branch", f"?branch={branch}"),
            ("page: commit (7 hex)", f"?commit={sample}"),
            ("page: one day in the middle", "?from=2026-05-30&to=2026-05-30"),
            ("page: status running (1 %)", "?status=running"),
        ]
        try:
            async with aiohttp.ClientSession() as session:
                for label, query in pages:
                    if query is None:
                        query = f"?suite=suite-7&before={encode_cursor(RunCursor.of(suite_edge))}"
                    sizes: list[int] = []

                    async def get(q: str = query, sizes: list[int] = sizes) -> None:
                        async with session.get(base + q) as resp:
                            body = await resp.read()
                            assert resp.status == 200, body[:300]
                            sizes.append(len(body))

                    server_ms.clear()
                    await _time(repeat, get)
                    rows.append((label, server_ms[1:], f"{sizes[-1] / 1024:.0f} KB HTML"))
                answers: list[list[str]] = []
                for label, query in api_pages:
                    answers.append([])
                    sizes = []

                    async def read(q: str = query, sizes: list[int] = sizes) -> None:
                        async with session.get(api + q) as resp:
                            body = await resp.json()
                            assert resp.status == 200, body
                            sizes.append(len(body["runs"]))
                            answers[-1] = [r["id"] for r in body["runs"]]

                    server_ms.clear()
                    await _time(repeat, read)
                    rows.append((label, server_ms[1:], f"{sizes[-1]} runs as JSON"))
                # the deep page is the same by offset and by cursor (and not the first page)
                assert answers[-1] == answers[-2] != answers[0], "API offset and cursor differ"
        finally:
            await runner.cleanup()
    return {"rows": rows, "plans": plans, "summaries": summaries}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--depth", type=int, default=50_000)
    parser.add_argument("--ferretdb", action="store_true", help="FerretDB instead of PostgreSQL")
    args = parser.parse_args()
    if args.ferretdb:
        from lamdis_store_mongo import open_store as open_mongo_store

        from tests.fixtures.ferretdb import start_ferretdb

        server = start_ferretdb()
        try:

            async def go_mongo() -> tuple[dict[str, Any], str]:
                store, catalog = await open_mongo_store({"MONGO_URL": server.url_for("bench")})
                try:
                    t0 = time.perf_counter()
                    await seed_mongo(store, args.runs)
                    print(f"seeded {args.runs:,} runs in {time.perf_counter() - t0:.1f} s")
                    result = await bench(
                        store, catalog, args.runs, args.repeat, args.depth, dsn=None
                    )
                finally:
                    await store.aclose()
                return result, "FerretDB (SQLite backend)"

            result, version = asyncio.run(go_mongo())
        finally:
            server.close()
    else:
        cluster = PostgresCluster()
        try:
            cluster.start()

            async def go() -> tuple[dict[str, Any], str]:
                name = await cluster.create_database()
                dsn = cluster.dsn(name)
                await migrate(dsn)
                t0 = time.perf_counter()
                await seed(dsn, args.runs)
                print(f"seeded {args.runs:,} runs in {time.perf_counter() - t0:.1f} s")
                conn = await asyncpg.connect(dsn)
                version = "PostgreSQL " + await conn.fetchval("SHOW server_version")
                await conn.close()
                store, catalog = await open_store({"DATABASE_URL": dsn})
                try:
                    return await bench(
                        store, catalog, args.runs, args.repeat, args.depth, dsn=dsn
                    ), version
                finally:
                    await store.aclose()

            result, version = asyncio.run(go())
        finally:
            cluster.destroy()
    print(
        f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {version}, "
        f"load average {os.getloadavg()[0]:.1f}; {args.runs:,} runs, {args.repeat} requests each"
    )
    print("\n| measure | p50 | p95 | note |\n|---|---|---|---|")
    for label, times, note in result["rows"]:
        p50 = statistics.median(times)
        print(f"| {label} | {p50:.2f} ms | {_pct(times, 0.95):.2f} ms | {note} |")
    if result["summaries"]:
        print("\nPlans of the first page of each filter (EXPLAIN ANALYZE):\n")
    for label, summary in result["summaries"].items():
        print(f"- {label}: {summary}")
    for label, plan in result["plans"].items():
        print(f"\nEXPLAIN ANALYZE, page by {label}:\n```\n{plan}\n```")


if __name__ == "__main__":
    main()
