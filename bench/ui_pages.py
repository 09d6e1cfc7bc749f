"""The web UI's pages over a large run history (issue 12, "Performance").

Fills a store through its own ``RunStore`` methods (``create_run``, ``append_item``,
``finish_run``) with ``--runs`` runs (10,000) spread over 20 suites and 3 environments, each
with a few items, plus:

- suite ``trend``: 50 runs of ``--trend-items`` items (the suite page's 50 runs);
- suite ``big``: one run of ``--big-items`` (500) items, the largest, and the run before it of
  as many (the compare page).

Items look like real ones: 3 user turns and 3 replies of a few hundred characters, 2 checks
with reasoning, timings. Then starts ``lamdis serve`` on that store as its own process (no
token: loopback only, as the UI without ``LAMDIS_API_TOKEN``) and requests each page
``--requests`` times one after the other, after 3 warm-up requests. Figures per page:

- **server time** p50/p95: ``duration_ms`` of the service's own ``http.request`` log line
  (from the request's arrival to its response being ready), the issue's measure;
- client time p95 as seen over loopback (server time plus HTTP);
- **transfer**: the page's HTML plus the stylesheet it links (the UI has no script and no
  font), as sent (no compression).

PostgreSQL: a throwaway cluster (``tests/fixtures/postgres.py``), a fresh database migrated with
``lamdis db migrate``. ``--store ferretdb``: the tests' FerretDB (SQLite backend), for
information. Everything it started is stopped at the end.

Usage: ``python bench/ui_pages.py [--store postgres|ferretdb] [--runs 10000]
[--trend-items 100] [--requests 30] [--record]``. ``--compare-pythonpath DIRS`` also serves
the same stored history from other sources (e.g. an older checkout's ``packages/*/src``),
alternating with this checkout's for ``--rounds`` rounds, so both builds are measured under
the same load; each figure is then the median of the rounds'.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lamdis_core.domain.results import (
    Check,
    Item,
    ItemStatus,
    JudgeSummary,
    Run,
    RunStatus,
    Timings,
    Totals,
    TranscriptEntry,
    Trigger,
    Usage,
)
from lamdis_core.ports.store import RunStore
from run import LAMDIS, bench_env, machine, record, wait_healthy
from start_burst import free_port

HERE = Path(__file__).resolve().parent
T0 = datetime(2026, 6, 1, tzinfo=UTC)
SUITES = [f"suite-{n:02d}" for n in range(20)]
ENVS = ["dev", "staging", "prod"]
TARGETS = {
    "runs page": 100.0,
    "run page, 500 items": 250.0,
    "suite trends, 50 runs": 150.0,
}
TRANSFER_LIMIT = 150 * 1024

_WORDS = (
    "account refund order payment card delivery policy support agent verify identity "
    "please thanks sorry within business days balance transfer limit fee statement"
).split()


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words)).capitalize() + "."


def make_item(rng: random.Random, n: int, status: ItemStatus) -> Item:
    latencies = [round(rng.uniform(150, 1800), 1) for _ in range(3)]
    transcript = []
    for latency in latencies:
        transcript.append(TranscriptEntry(role="user", content=_text(rng, 12)))
        transcript.append(
            TranscriptEntry(
                role="assistant",
                content=_text(rng, 45),
                latency_ms=latency,
                ttft_ms=round(latency / 4, 1),
            )
        )
    score = round(rng.uniform(0.3, 1.0), 2)
    return Item(
        test_id=f"test-{n:03d}",
        test_name=f"Test number {n}: {_text(rng, 4)}",
        assistant="support-bot",
        status=status,
        file="tests/support.json",
        transcript=transcript,
        assertions=[
            Check(
                type="includes",
                name="mentions the policy",
                passed=status is ItemStatus.PASSED,
                details={"terms": ["policy"], "transcriptEntries": 2},
            ),
            Check(
                type="assistant_check",
                subtype="judge",
                name="helpful and correct",
                passed=status is ItemStatus.PASSED,
                details={
                    "score": score,
                    "threshold": 0.6,
                    "reasoning": _text(rng, 30),
                    "transcriptEntries": 6,
                },
            ),
        ],
        timings=Timings.from_turns(latencies),
        judge_score=score,
    )


async def store_run(
    store: RunStore,
    rng: random.Random,
    *,
    suite: str,
    env: str,
    created_at: datetime,
    items: int,
    fail_rate: float,
) -> str:
    run = await store.create_run(
        Run(
            org_id="acme",
            suite_id=suite,
            env_id=env,
            trigger=rng.choice(list(Trigger)),
            created_at=created_at,
            started_at=created_at,
            git_context={
                "repo": "acme/support-bot",
                "branch": rng.choice(["main", "main", "release", f"feature-{rng.randint(1, 40)}"]),
                "sha": f"{rng.getrandbits(160):040x}",
            },
        )
    )
    assert run.id is not None
    statuses = [
        ItemStatus.FAILED if rng.random() < fail_rate else ItemStatus.PASSED for _ in range(items)
    ]
    built = [make_item(rng, n, status) for n, status in enumerate(statuses)]
    for item in built:  # appends are sequential per run, as a worker makes them
        await store.append_item(run.id, item)
    passed = statuses.count(ItemStatus.PASSED)
    scores = [i.judge_score for i in built if i.judge_score is not None]
    await store.finish_run(
        run.id,
        status=RunStatus.PASSED if passed == items else RunStatus.FAILED,
        totals=Totals(passed=passed, failed=items - passed),
        judge=JudgeSummary(avg_score=round(sum(scores) / len(scores), 3) if scores else None),
        usage=Usage(tokens=items * 900, calls=items * 2, cost_usd=round(items * 0.0004, 4)),
        finished_at=created_at + timedelta(seconds=20 + items * 0.3),
    )
    return run.id


async def fill(store: RunStore, runs: int, trend_items: int, big_items: int) -> dict[str, str]:
    """Store the history; returns the ids the pages are measured on."""
    rng = random.Random(12)
    plan: list[dict[str, Any]] = []
    ordinary = runs - 52
    for n in range(ordinary):
        plan.append(
            {
                "suite": SUITES[n % len(SUITES)],
                "env": ENVS[n % len(ENVS)],
                "created_at": T0 + timedelta(minutes=n),
                "items": rng.randint(2, 8),
                "fail_rate": 0.1,
            }
        )
    # The trend suite's 50 runs and the two big ones are the newest: what a person looks at.
    latest = T0 + timedelta(minutes=ordinary)
    for n in range(50):
        plan.append(
            {
                "suite": "trend",
                "env": "staging",
                "created_at": latest + timedelta(minutes=n),
                "items": trend_items,
                "fail_rate": 0.05 + 0.1 * (n % 3),
                "key": "trend",
            }
        )
    for n, key in enumerate(("big-base", "big")):
        plan.append(
            {
                "suite": "big",
                "env": "prod",
                "created_at": latest + timedelta(minutes=60 + n),
                "items": big_items,
                "fail_rate": 0.08,
                "key": key,
            }
        )
    ids: dict[str, str] = {}
    queue = list(enumerate(plan))
    done = 0
    started = time.monotonic()

    async def worker() -> None:
        nonlocal done
        while queue:
            index, spec = queue.pop(0)
            key = spec.pop("key", None)
            run_id = await store_run(store, random.Random(index), **spec)
            if key:
                ids[key] = run_id
            done += 1
            if done % 1000 == 0:
                print(f"  stored {done} runs in {time.monotonic() - started:.0f} s", flush=True)

    await asyncio.gather(*(worker() for _ in range(12)))
    return ids


async def open_store(kind: str, url: str) -> RunStore:
    if kind == "postgres":
        from lamdis_store_postgres import PostgresRunStore, create_pool

        return PostgresRunStore(await create_pool(url, max_size=12))
    from lamdis_store_mongo import open_store as open_mongo

    store, _ = await open_mongo({"MONGO_URL": url})
    return store


def start_service(
    kind: str, url: str, log: Path, pythonpath: str | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = bench_env(
        PORT=str(port),
        LAMDIS_LOG_LEVEL="INFO",
        JUDGE_PROVIDER="offline",
        LAMDIS_MAX_RUNS="1",
        DB_PROVIDER="postgres" if kind == "postgres" else "mongo",
    )
    for name in ("DATABASE_URL", "MONGO_URL", "LAMDIS_API_TOKEN", "LAMDIS_HMAC_SECRET"):
        env.pop(name, None)
    env["DATABASE_URL" if kind == "postgres" else "MONGO_URL"] = url
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    with log.open("wb") as sink:
        proc = subprocess.Popen([*LAMDIS, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=sink)
    base = f"http://127.0.0.1:{port}"
    wait_healthy(proc, base, seconds=60, log=log)
    return proc, base


def server_times(log: Path, request_ids: set[str]) -> list[float]:
    times = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "http.request" and event.get("request_id") in request_ids:
            times.append(float(event["duration_ms"]))
    return times


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * 95 // 100) - 1)]


async def measure(
    session: aiohttp.ClientSession, base: str, path: str, requests: int, log: Path
) -> dict[str, Any]:
    ids: set[str] = set()
    client: list[float] = []
    size = 0
    for n in range(3 + requests):
        started = time.perf_counter()
        async with session.get(base + path) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"{path}: {resp.status} {body[:300]!r}")
        elapsed = (time.perf_counter() - started) * 1000
        size = len(body)
        if n >= 3:
            client.append(elapsed)
            ids.add(resp.headers["x-request-id"])
    await asyncio.sleep(0.3)  # the log line is written after the response
    server = server_times(log, ids)
    if len(server) != requests:
        raise RuntimeError(f"{path}: found {len(server)} of {requests} server log lines")
    return {
        "server_p50": statistics.median(server),
        "server_p95": p95(server),
        "client_p95": p95(client),
        "html_bytes": size,
    }


async def deep_runs_page(session: aiohttp.ClientSession, base: str, pages: int) -> str:
    """The runs page ``pages`` pages deep, by following its "Older" links."""
    path = "/ui/"
    for _ in range(pages):
        async with session.get(base + path) as resp:
            html = await resp.text()
        found = re.search(r'rel="next" href="([^"]+)"', html)
        if found is None:
            break
        path = found.group(1).replace("&amp;", "&")
    return path


async def measure_pages(
    base: str, ids: dict[str, str], requests: int, log: Path, big: int
) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as session:
        async with session.get(base + "/ui/static/lamdis.css") as resp:
            css = len(await resp.read())
        deep = await deep_runs_page(session, base, 200)
        pages = [
            ("runs page", "runs page (first)", "/ui/"),
            ("runs page", "runs page, filtered by suite", "/ui/?suite=suite-07"),
            ("runs page", "runs page, 200 pages deep", deep),
            ("run page, 500 items", f"run page, {big} items", f"/ui/runs/{ids['big']}"),
            ("suite trends, 50 runs", "suite trends, 50 runs", "/ui/suites/trend"),
            (None, f"compare, {big} vs {big} items", f"/ui/runs/{ids['big']}/compare"),
        ]
        rows = []
        for target, label, path in pages:
            figures = await measure(session, base, path, requests, log)
            figures.update(label=label, path=path, target=target, css_bytes=css)
            rows.append(figures)
            print(
                f"  {label}: server p50 {figures['server_p50']:.1f} ms, p95 "
                f"{figures['server_p95']:.1f} ms; client p95 {figures['client_p95']:.1f} ms; "
                f"{(figures['html_bytes'] + css) / 1024:.1f} KB",
                flush=True,
            )
        return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| page | server p50 | server p95 | goal (p95) | client p95 | HTML + CSS | goal |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        goal = f"< {TARGETS[r['target']]:.0f} ms" if r["target"] else "—"
        met = ""
        if r["target"]:
            met = " ✓" if r["server_p95"] < TARGETS[r["target"]] else " ✗"
        transfer = r["html_bytes"] + r["css_bytes"]
        lines.append(
            f"| {r['label']} | {r['server_p50']:.1f} ms | {r['server_p95']:.1f} ms | {goal}{met} | "
            f"{r['client_p95']:.1f} ms | {transfer / 1024:.1f} KB | < 150 KB"
            f"{' ✓' if transfer < TRANSFER_LIMIT else ' ✗'} |"
        )
    return "\n".join(lines)


def median_rows(rounds: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Each page's figures as the median of the rounds'."""
    rows = []
    for same_page in zip(*rounds, strict=True):
        row = dict(same_page[0])
        for key in ("server_p50", "server_p95", "client_p95"):
            row[key] = statistics.median(r[key] for r in same_page)
        rows.append(row)
    return rows


def load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=["postgres", "ferretdb"], default="postgres")
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--trend-items", type=int, default=100)
    parser.add_argument("--big-items", type=int, default=500, help="items of the largest run")
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument(
        "--compare-pythonpath",
        metavar="DIRS",
        help="also serve from these sources (PYTHONPATH, e.g. an older checkout's "
        "packages/*/src), alternating with this checkout's, on the same stored history",
    )
    parser.add_argument("--compare-label", default="baseline")
    parser.add_argument("--rounds", type=int, default=1, help="services started per build")
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args()
    builds: list[tuple[str, str | None]] = [("this checkout", None)]
    if args.compare_pythonpath:
        builds.insert(0, (args.compare_label, args.compare_pythonpath))

    load_before = load()
    cleanup: list[Callable[[], Any]] = []
    try:
        if args.store == "postgres":
            from start_burst import start_cluster

            cluster = start_cluster()
            cleanup.append(cluster.destroy)
            cleanup.append(cluster.stop)
            asyncio.run(cluster.admin('CREATE DATABASE "ui_bench"'))
            url = str(cluster.dsn("ui_bench"))
            subprocess.run(
                [*LAMDIS, "db", "migrate", "--database-url", url],
                env=bench_env(),
                check=True,
                stdout=subprocess.DEVNULL,
            )
        else:
            from tests.fixtures.ferretdb import start_ferretdb

            server = start_ferretdb()
            cleanup.append(server.close)
            url = server.url_for("ui_bench")

        async def seed() -> dict[str, str]:
            store = await open_store(args.store, url)
            try:
                return await fill(store, args.runs, args.trend_items, args.big_items)
            finally:
                await store.aclose()

        started = time.monotonic()
        print(f"storing {args.runs} runs in {args.store} ...", flush=True)
        ids = asyncio.run(seed())
        fill_seconds = time.monotonic() - started
        rounds: dict[str, list[list[dict[str, Any]]]] = {label: [] for label, _ in builds}
        with tempfile.TemporaryDirectory() as work:
            for n in range(args.rounds):
                for label, pythonpath in builds:  # alternate: the same load for each build
                    print(f"round {n + 1}, {label}:", flush=True)
                    log = Path(work) / f"serve-{n}-{len(rounds[label])}-{label}.log"
                    proc, base = start_service(args.store, url, log, pythonpath)
                    try:
                        rounds[label].append(
                            asyncio.run(
                                measure_pages(base, ids, args.requests, log, args.big_items)
                            )
                        )
                    finally:
                        proc.terminate()
                        proc.wait(timeout=30)
    finally:
        for step in reversed(cleanup):
            step()
    load_after = load()

    heading = (
        f"### Web UI pages over {args.runs:,} runs on "
        f"{'PostgreSQL' if args.store == 'postgres' else 'FerretDB (SQLite backend)'} "
        f"(`bench/ui_pages.py`) — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    setup = (
        f"Machine: {machine()}; 1-minute load average before/after {load_before} / "
        f"{load_after}. `python bench/ui_pages.py --store {args.store} --runs {args.runs} "
        f"--trend-items {args.trend_items} --big-items {args.big_items} --requests "
        f"{args.requests}`: {args.runs:,} runs over "
        f"20 suites and 3 environments (2-8 items each), suite `trend` 50 runs x "
        f"{args.trend_items} items, suite `big` two runs of {args.big_items} items; items of 3 "
        f"turns with "
        f"2 checks. Stored through the store's own methods in {fill_seconds:.0f} s. `lamdis "
        f"serve` in its own process, no token; each page requested {args.requests} times in a "
        f"row after 3 warm-ups. Server time is the service's `http.request` `duration_ms`."
    )
    if len(builds) == 1 and args.rounds == 1:
        text = f"{heading}\n\n{setup}\n\n{table(rounds[builds[0][0]][0])}\n"
    else:
        setup += (
            f" With `--rounds {args.rounds}`"
            + (" --compare-pythonpath ..." if args.compare_pythonpath else "")
            + f": the builds alternating ({', '.join(rounds)}) on the same stored history, "
            "each figure the median of the rounds'."
        )
        tables = [
            f"{label}{' (`--compare-pythonpath`)' if pythonpath else ''}; run page server "
            "p95 per round: "
            + ", ".join(
                f"{row['server_p95']:.1f}"
                for r in rounds[label]
                for row in r
                if row["target"] == "run page, 500 items"
            )
            + f" ms\n\n{table(median_rows(rounds[label]))}"
            for label, pythonpath in builds
        ]
        text = f"{heading}\n\n{setup}\n\n" + "\n\n".join(tables) + "\n"
    print()
    print(text)
    if args.record:
        record("\n" + text)


if __name__ == "__main__":
    main()
