"""Benchmark of lamdis-store-mongo on FerretDB (issue 5, "Performance").

1. Persist a run of 1,000 items the way the hosted worker does: create, claim, one
   ``append_item`` per finished item (each acknowledged before the next), ``finish_run``.
   Reports ms per item (mean, p50, p95) and the first and last hundred appends side by side,
   then reading the run back.
2. List the 5 most recent of 10,000 runs: the seed's shell query
   (``find({}, {status, finishedAt, totals}).sort({finishedAt: -1}).limit(5)``) and
   ``list_runs`` (newest ``createdAt`` first, overall and for one org), with FerretDB's
   ``explain`` saying whether the sort reached SQLite.

It starts its own FerretDB (the tests' fixture code) with the SQLite backend in a temp folder.
Items are the contract suite's fully populated item (about 1.3 KB of BSON), as in
bench/store_postgres.py, so the two stores' figures compare.

Usage: ``python bench/store_mongo.py [--items N] [--runs N] [--record]``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import platform
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bson
import structlog

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lamdis_core.domain.results import (  # noqa: E402  (after the sys.path line)
    JudgeSummary,
    Run,
    RunStatus,
    Totals,
    Usage,
)
from lamdis_core.ports.store import RunFilter  # noqa: E402
from lamdis_store_mongo import MongoRunStore, open_store  # noqa: E402
from pymongo import AsyncMongoClient  # noqa: E402
from run import record  # noqa: E402

from tests.contracts.store import make_item  # noqa: E402
from tests.fixtures.ferretdb import FERRETDB_VERSION, start_ferretdb  # noqa: E402


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def _pct(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


async def _timed(fn: Any, rounds: int) -> tuple[float, float]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), _pct(times, 0.95)


async def persist(store: MongoRunStore, items: int) -> list[tuple[str, str, str]]:
    run = await store.create_run(Run(org_id="bench", suite_id="s"))
    assert run.id is not None
    now = datetime.now(UTC)
    await store.claim_next("bench", now=now, lease_seconds=3600)
    samples = []
    started = time.perf_counter()
    for n in range(items):
        t = time.perf_counter()
        await store.append_item(run.id, make_item(n))
        samples.append(time.perf_counter() - t)
    total = time.perf_counter() - started
    await store.finish_run(
        run.id,
        status=RunStatus.PASSED,
        totals=Totals(passed=items),
        judge=JudgeSummary(avg_score=0.9),
        usage=Usage(),
        finished_at=datetime.now(UTC),
    )
    read = []
    for _ in range(3):
        t = time.perf_counter()
        got = await store.get_run(run.id)
        read.append(time.perf_counter() - t)
        assert got is not None
        assert len(got.items) == items
    t = time.perf_counter()
    await store.get_run(run.id, include_items=False)
    summary = time.perf_counter() - t
    raw = await store._runs.find_one({"_id": bson.ObjectId(run.id)})
    assert raw is not None
    size = len(bson.encode(raw))
    first, last = samples[:100], samples[-100:]
    return [
        (
            f"persist {items} items: total",
            f"{total:.2f} s",
            "sequential, one acknowledged write each",
        ),
        ("append_item mean", _ms(statistics.mean(samples)), f"{size // items} B of BSON per item"),
        ("append_item p50 / p95", f"{_ms(_pct(samples, 0.5))} / {_ms(_pct(samples, 0.95))}", ""),
        (
            "append_item first 100 vs last 100 (mean)",
            f"{_ms(statistics.mean(first))} vs {_ms(statistics.mean(last))}",
            "FerretDB rewrites the whole document on every $push",
        ),
        (f"get_run with {items} items (median of 3)", _ms(statistics.median(read)), ""),
        ("get_run without items (summary)", _ms(summary), "FerretDB still loads the document"),
        ("run document size", f"{size / 1024 / 1024:.2f} MiB", "limit 16 MiB"),
    ]


async def recent(
    store: MongoRunStore, url: str, runs: int
) -> tuple[list[tuple[str, str, str]], str]:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    docs = []
    for n in range(runs):
        run = Run(
            org_id=f"org-{n % 40}",
            suite_id=f"suite-{n % 100}",
            status=[RunStatus.PASSED, RunStatus.FAILED, RunStatus.PARTIAL][n % 3],
            started_at=base + timedelta(minutes=n),
            finished_at=base + timedelta(minutes=n, seconds=30),
            totals=Totals(passed=1),
        )
        docs.append(store._run_doc(run, bson.ObjectId(), base + timedelta(minutes=n)))
    t = time.perf_counter()
    for start in range(0, runs, 1000):
        await store._runs.insert_many(docs[start : start + 1000])
    fill = time.perf_counter() - t
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)
    db = client.get_default_database()

    async def seed() -> None:
        cursor = (
            db.testruns.find({}, {"status": 1, "finishedAt": 1, "totals": 1})
            .sort({"finishedAt": -1})
            .limit(5)
        )
        assert len(await cursor.to_list()) == 5

    async def listed() -> None:
        assert len(await store.list_runs(RunFilter(limit=5))) == 5

    async def by_org() -> None:
        assert len(await store.list_runs(RunFilter(org_id="org-1", limit=5))) == 5

    rows = [(f"insert {runs} runs (insert_many, setup)", f"{fill:.2f} s", "")]
    for label, fn in (
        (f"seed query: 5 most recent of {runs} by finishedAt", seed),
        (f"list_runs(limit=5) of {runs}", listed),
        (f"list_runs(org_id=..., limit=5) of {runs}", by_org),
    ):
        median, p95 = await _timed(fn, 20)
        rows.append((label, f"{_ms(median)} (p95 {_ms(p95)})", "median of 20"))
    explain = await db.command(
        "explain",
        {
            "find": "testruns",
            "filter": {},
            "sort": {"finishedAt": -1},
            "limit": 5,
            "projection": {"status": 1, "finishedAt": 1, "totals": 1},
        },
    )
    await client.aclose()
    keys = ("filterPushdown", "sortPushdown", "limitPushdown")
    plan = ", ".join(f"{k}={explain.get(k)}" for k in keys)
    return rows, plan


def _table(rows: list[tuple[str, str, str]]) -> str:
    lines = ["| figure | measured | notes |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--record", action="store_true")
    parser.add_argument(
        "--no-locks",
        action="store_true",
        help="append without the per-run locks (the MongoDB code path; safe here, one writer)",
    )
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    server = start_ferretdb()
    try:
        opened, _ = await open_store({"MONGO_URL": server.url_for("bench_items")})
        store = MongoRunStore(opened.database, document_locks=False) if args.no_locks else opened
        rows = await persist(store, args.items)
        await opened.aclose()
        more: list[tuple[str, str, str]] = []
        plan = "(not measured)"
        if args.runs:
            url = server.url_for("bench_runs")
            store, _ = await open_store({"MONGO_URL": url})
            more, plan = await recent(store, url, args.runs)
            await store.aclose()
    finally:
        server.close()
    cpu = platform.processor() or platform.machine()
    report = (
        f"### lamdis-store-mongo — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n\n"
        f"Machine: {cpu}, {len(__import__('os').sched_getaffinity(0))} cores, Python "
        f"{platform.python_version()}; FerretDB {FERRETDB_VERSION} (SQLite backend) on the same "
        f"machine over 127.0.0.1, per-run write locks {'OFF' if args.no_locks else 'on'}. "
        f"`python bench/store_mongo.py {' '.join(sys.argv[1:])}`.\n\n"
        f"{_table(rows + more)}\n\nFerretDB explain of the seed query: {plan}.\n"
    )
    print(report)
    if args.record:
        record("\n" + report)


if __name__ == "__main__":
    asyncio.run(main())
