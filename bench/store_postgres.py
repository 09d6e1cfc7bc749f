"""Benchmark of lamdis-store-postgres (issue 4, "Performance").

1. Persist a run of 1,000 items the way the hosted worker does: create, claim, then one
   ``append_item`` per finished item (each durable before the next), then ``finish_run``.
   Reports ms per item (mean, p50, p95), the first and last hundred appends side by side
   (appending must not slow down as the run grows), and reading the run back.
2. List the 5 most recent of 10,000 runs: the seed's SQL (``ORDER BY "finishedAt" DESC
   LIMIT 5``) and ``list_runs`` (newest ``createdAt`` first, overall and for one org), with
   ``EXPLAIN ANALYZE`` showing which index serves it.

It starts its own throwaway cluster (the tests' fixture code) with PostgreSQL's default
durability (``fsync=on``, ``synchronous_commit=on``), so every append is flushed to disk.

Usage: ``python bench/store_postgres.py [--items N] [--runs N] [--record]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lamdis_core.domain.convert import make_converter  # noqa: E402
from lamdis_core.domain.results import (  # noqa: E402  (after the sys.path line)
    JudgeSummary,
    Run,
    RunStatus,
    Totals,
    Usage,
)
from lamdis_core.ports.store import RunFilter  # noqa: E402
from lamdis_store_postgres import migrate, open_store  # noqa: E402
from lamdis_store_postgres.store import list_runs_query  # noqa: E402

from tests.contracts.store import make_item  # noqa: E402
from tests.fixtures.postgres import PostgresCluster  # noqa: E402

SEED_RECENT = """SELECT id, status, "finishedAt", totals
FROM test_runs
ORDER BY "finishedAt" DESC
LIMIT 5;"""


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def _pct(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


async def persist_run(dsn: str, items: int) -> list[tuple[str, str]]:
    store, _ = await open_store({"DATABASE_URL": dsn})
    try:
        now = datetime.now(UTC)
        run = await store.create_run(Run(org_id="bench", suite_id="bench"))
        assert run.id is not None
        await store.claim_next("bench", now=now, lease_seconds=600)
        payload = [make_item(n) for n in range(items)]
        durations = []
        started = time.perf_counter()
        for item in payload:
            t = time.perf_counter()
            await store.append_item(run.id, item)
            durations.append(time.perf_counter() - t)
        total = time.perf_counter() - started
        await store.finish_run(
            run.id,
            status=RunStatus.PASSED,
            totals=Totals(passed=items),
            judge=JudgeSummary(),
            usage=Usage(),
            finished_at=datetime.now(UTC),
        )
        reads = []
        for _ in range(5):
            t = time.perf_counter()
            full = await store.get_run(run.id)
            reads.append(time.perf_counter() - t)
        assert full is not None
        assert len(full.items) == items
        item_bytes = len(json.dumps(make_converter().unstructure(payload[0])))
    finally:
        await store.aclose()
    head, tail = durations[:100], durations[-100:]
    return [
        (f"persist {items} items: total", f"{total:.2f} s", "sequential, one commit per item"),
        ("append_item mean", _ms(total / items), f"{item_bytes} B of JSON per item"),
        (
            "append_item p50 / p95",
            f"{_ms(_pct(durations, 0.5))} / {_ms(_pct(durations, 0.95))}",
            "",
        ),
        (
            "append_item first 100 vs last 100 (mean)",
            f"{_ms(statistics.mean(head))} vs {_ms(statistics.mean(tail))}",
            "flat: cost does not grow with the run",
        ),
        (f"get_run with {items} items (median of 5)", _ms(statistics.median(reads)), ""),
    ]


async def fill_runs(dsn: str, count: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            """
            INSERT INTO test_runs (id, "orgId", "suiteId", status, "createdAt", "startedAt",
                                   "finishedAt", totals, judge, usage)
            SELECT lpad(to_hex(g), 24, '0'), 'org-' || (g % 50), 'suite-' || (g % 200),
                   (ARRAY['passed', 'failed', 'partial', 'stopped'])[1 + g % 4],
                   now() - make_interval(secs => g * 37),
                   now() - make_interval(secs => g * 37),
                   now() - make_interval(secs => g * 37) + make_interval(secs => 5 + g % 90),
                   jsonb_build_object('passed', g % 7, 'failed', g % 3, 'skipped', 0,
                                      'errors', 0),
                   '{"avgScore": 0.9}', '{"tokens": 1200, "calls": 8}'
            FROM generate_series(1, $1) AS g
            """,
            count,
        )
        await conn.execute("VACUUM ANALYZE test_runs")
    finally:
        await conn.close()


async def list_recent(dsn: str, runs: int) -> tuple[list[tuple[str, str, str]], dict[str, str]]:
    await fill_runs(dsn, runs)
    rows: list[tuple[str, str, str]] = []
    plans: dict[str, str] = {}
    conn = await asyncpg.connect(dsn)
    try:
        total = await conn.fetchval("SELECT count(*) FROM test_runs")
        assert total == runs
        await conn.fetch(SEED_RECENT)  # warm the cache, as a long-running server would be
        samples = []
        for _ in range(50):
            t = time.perf_counter()
            got = await conn.fetch(SEED_RECENT)
            samples.append(time.perf_counter() - t)
        assert len(got) == 5
        plans["seed: recent 5 runs"] = "\n".join(
            r[0] for r in await conn.fetch("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + SEED_RECENT)
        )
        rows.append(
            (
                f"seed SQL: 5 most recent of {runs:,} runs",
                f"{_ms(statistics.median(samples))} (p95 {_ms(_pct(samples, 0.95))})",
                "client round trip, median of 50",
            )
        )
    finally:
        await conn.close()

    store, _ = await open_store({"DATABASE_URL": dsn})
    try:
        for label, run_filter in (
            ("list_runs(limit=5)", RunFilter(limit=5)),
            ("list_runs(org_id=..., limit=5)", RunFilter(org_id="org-7", limit=5)),
        ):
            await store.list_runs(run_filter)
            samples = []
            for _ in range(50):
                t = time.perf_counter()
                listed = await store.list_runs(run_filter)
                samples.append(time.perf_counter() - t)
            assert len(listed) == 5
            rows.append(
                (
                    f"{label} of {runs:,}",
                    f"{_ms(statistics.median(samples))} (p95 {_ms(_pct(samples, 0.95))})",
                    "through the store (decoding included)",
                )
            )
            query = list_runs_query(run_filter)
            assert query is not None
            sql, args = query
            async with store.pool.acquire() as conn:
                plans[label] = "\n".join(
                    r[0] for r in await conn.fetch("EXPLAIN (ANALYZE, COSTS OFF) " + sql, *args)
                )
    finally:
        await store.aclose()
    return rows, plans


def machine() -> str:
    cpu = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


async def bench(
    cluster: PostgresCluster, items: int, runs: int
) -> tuple[list[tuple[str, str, str]], dict[str, str], str]:
    conn = await asyncpg.connect(cluster.dsn())
    try:
        version = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    rows: list[tuple[str, str, str]] = []
    plans: dict[str, str] = {}
    for stage in ("persist", "list"):
        name = await cluster.create_database()
        try:
            await migrate(cluster.dsn(name))
            if stage == "persist":
                rows += await persist_run(cluster.dsn(name), items)
            else:
                more, plans = await list_recent(cluster.dsn(name), runs)
                rows += more
        finally:
            await cluster.drop_database(name)
    return rows, plans, version


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument(
        "--record", action="store_true", help="append the figures to bench/RESULTS.md"
    )
    parser.add_argument(
        "--no-fsync",
        action="store_true",
        help="fsync=off: shows the CPU cost without the disk flush",
    )
    args = parser.parse_args()

    cluster = PostgresCluster(fsync=not args.no_fsync)
    try:
        cluster.start()
        rows, plans, version = asyncio.run(bench(cluster, args.items, args.runs))
    finally:
        cluster.destroy()

    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"{name.ljust(width)}  {value}  {note}".rstrip())
    for label, plan in plans.items():
        print(f"\nEXPLAIN ANALYZE — {label}\n{plan}")

    if args.record:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        lines = [
            "",
            f"### lamdis-store-postgres — {stamp}",
            "",
            f"Machine: {machine()}; PostgreSQL {version} on the same machine over 127.0.0.1, "
            + (
                "`fsync=off` (CPU and protocol cost only, no disk flush). "
                "`python bench/store_postgres.py --no-fsync --record`."
                if args.no_fsync
                else "`fsync=on`, `synchronous_commit=on` (every append flushed to disk). "
                "`python bench/store_postgres.py --record`."
            ),
            "",
            "| figure | measured | notes |",
            "|---|---|---|",
        ]
        lines += [f"| {name} | {value} | {note} |" for name, value, note in rows]
        for label, plan in plans.items():
            lines += ["", f"Plan, {label}:", "", "```", plan, "```"]
        with open(ROOT / "bench" / "RESULTS.md", "a", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")
        print(f"\nrecorded in {ROOT / 'bench' / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
