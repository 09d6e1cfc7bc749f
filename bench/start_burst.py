"""500 concurrent starts against ``lamdis serve`` with the local store (issue 16, "Performance").

``lamdis serve`` runs as its own process, exactly as deployed (its listener applies the
server limits: ``LAMDIS_READ_TIMEOUT_SECONDS``, ``LAMDIS_MAX_CONNECTIONS``), with
``DB_PROVIDER=local`` and a config dir holding one suite of 5 tests x 2 turns. The demo
assistant runs in another process and answers after 2 s, so the runs the workers claim
during the burst wait on it instead of competing for the CPU the starts are measured with.

Each round restarts the service, sends a few warm-up starts, then opens ``--starts``
connections at once, each sending one ``POST /internal/runs/start``. Figures:

- start latency p50 / p99 / max, as the clients see it (queueing included: on 2 cores, 500
  requests arriving together wait behind each other);
- the service's CPU time (user + system, from ``/proc/<pid>/stat``) over the burst, divided
  by the number of starts: the per-start cost, the figure to drive down;
- every answer's status (all must be 202).

``--postgres`` measures two instances sharing one PostgreSQL instead: a throwaway cluster
(``tests/fixtures/postgres.py``: Debian's ``initdb``/``pg_ctl`` on a free 127.0.0.1 port), a
fresh database per round migrated with ``lamdis db migrate`` and loaded with ``lamdis import``, two ``lamdis serve`` processes
with ``DATABASE_URL`` on two ports, the starts sent alternately to each. After the burst it
waits until every run in the database is final and reports how many are; the suite is 1 test x
2 turns and the demo assistant answers after 200 ms, so the ~500 runs drain in under a minute.
Everything it started (services, assistant, ``pg_ctl stop``) is stopped at the end.

Usage: ``python bench/start_burst.py [--starts 500] [--rounds 3] [--postgres] [--record]``.
``--compare-pythonpath DIRS`` also runs the service from other sources (e.g. an older
checkout's ``packages/*/src``), alternating rounds, to compare under the same load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import LAMDIS, bench_env, demo_assistant, machine, record, wait_healthy

HERE = Path(__file__).resolve().parent
TOKEN = "bench-token"
TICKS = os.sysconf("SC_CLK_TCK")


def write_configs(root: Path, demo_url: str, tests: int = 5) -> Path:
    def put(relative: str, data: Any) -> None:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data), encoding="utf-8")

    put(
        "assistants/demo.json", {"id": "demo", "env": {"channel": "http_chat", "baseUrl": demo_url}}
    )
    steps = [
        {"type": "message", "role": "user", "content": "hello"},
        {"type": "message", "role": "user", "content": "Tell me about diversification"},
        {"type": "includes", "includes": ["diversif"]},
    ]
    put(
        "tests/bench.json",
        {
            "id": "bench-tests",
            "assistantRef": "assistants/demo",
            "tests": [{"id": f"t{i}", "steps": steps} for i in range(tests)],
        },
    )
    put(
        "suites/bench.json",
        {
            "id": "bench",
            "assistants": {"include": ["assistants/demo"]},
            "tests": {"includeFiles": ["tests/bench.json"]},
        },
    )
    return root


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_service(
    config_dir: Path,
    server_pythonpath: str | None,
    database_url: str | None = None,
    **extra_env: str,
) -> tuple[subprocess.Popen[bytes], str]:
    """One ``lamdis serve``: the local store, or PostgreSQL at ``database_url``."""
    port = free_port()
    env = bench_env(
        DB_PROVIDER="postgres" if database_url else "local",
        PORT=str(port),
        LAMDIS_CONFIG_DIR=str(config_dir),
        LAMDIS_API_TOKEN=TOKEN,
        LAMDIS_LOG_LEVEL="WARNING",
        JUDGE_PROVIDER="offline",
        **extra_env,
    )
    for name in ("DATABASE_URL", "MONGO_URL"):
        env.pop(name, None)
    if database_url:
        env["DATABASE_URL"] = database_url
    if server_pythonpath:
        env["PYTHONPATH"] = server_pythonpath
    proc = subprocess.Popen(
        [*LAMDIS, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    wait_healthy(proc, url, seconds=30)
    return proc, url


def _request(host: str, port: int) -> bytes:
    body = json.dumps({"suiteId": "bench", "trigger": "ci"}).encode()
    head = (
        f"POST /internal/runs/start HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"x-api-token: {TOKEN}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


async def _start_once(host: str, port: int, request: bytes) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        answer = await reader.read()  # until the service closes (Connection: close)
    finally:
        writer.close()
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


async def burst(urls: list[str], starts: int) -> tuple[list[float], Counter[int], float]:
    """``starts`` clients, each on its own connection, released together.

    With several ``urls`` the clients alternate between them (client ``i`` to ``urls[i % n]``).
    A bare asyncio client with a pre-built request: aiohttp's client costs a few ms of CPU
    per request, and on 2 shared cores that would be measured as the service's latency."""
    targets = []
    for url in urls:
        host, port_text = url.removeprefix("http://").split(":")
        targets.append((host, int(port_text), _request(host, int(port_text))))
    for host, port, request in targets:
        for _ in range(5):  # warm-up: first-use imports, the suite's plan
            await _start_once(host, port, request)
    gate = asyncio.Event()

    async def one(i: int) -> tuple[float, int]:
        host, port, request = targets[i % len(targets)]
        await gate.wait()
        t0 = time.perf_counter()
        status = await _start_once(host, port, request)
        return (time.perf_counter() - t0) * 1000, status

    tasks = [asyncio.create_task(one(i)) for i in range(starts)]
    await asyncio.sleep(0.1)
    started = time.perf_counter()
    gate.set()
    results = await asyncio.gather(*tasks)
    wall = time.perf_counter() - started
    return [r[0] for r in results], Counter(r[1] for r in results), wall


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


FINAL = ("passed", "failed", "partial", "stopped")


async def _run_counts(dsn: str) -> Counter[str]:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT status, count(*) AS n FROM test_runs GROUP BY status")
    finally:
        await conn.close()
    return Counter({str(r["status"]): int(r["n"]) for r in rows})


def wait_all_final(dsn: str, timeout: float = 600) -> tuple[Counter[str], float]:
    """Poll the shared database until no run is queued or running (or ``timeout``)."""
    started = time.monotonic()
    while True:
        counts = asyncio.run(_run_counts(dsn))
        pending = sum(n for status, n in counts.items() if status not in FINAL)
        if not pending or time.monotonic() - started > timeout:
            return counts, time.monotonic() - started
        time.sleep(0.5)


def one_round(
    config_dir: Path,
    starts: int,
    server_pythonpath: str | None,
    database_url: str | None = None,
) -> dict[str, Any]:
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    try:
        for _ in range(2 if database_url else 1):
            proc, url = start_service(config_dir, server_pythonpath, database_url)
            procs.append(proc)
            urls.append(url)
        before = sum(cpu_seconds(p.pid) for p in procs)
        latencies, statuses, wall = asyncio.run(burst(urls, starts))
        after = sum(cpu_seconds(p.pid) for p in procs)
        drained: dict[str, Any] = {}
        if database_url:
            counts, waited = wait_all_final(database_url)
            drained = {
                "runs": sum(counts.values()),
                "final": sum(n for status, n in counts.items() if status in FINAL),
                "run_statuses": dict(counts),
                "drain_s": waited,
            }
    finally:
        for proc in procs:
            _stop(proc)
    ordered = sorted(latencies)
    # The warm-up's five starts ran before ``before``: the CPU delta covers the burst only.
    return {
        "p50": statistics.median(ordered),
        "p99": ordered[max(0, round(0.99 * len(ordered)) - 1)],
        "max": ordered[-1],
        "statuses": dict(statuses),
        "cpu_ms_per_start": (after - before) * 1000 / starts,
        "wall_s": wall,
        **drained,
    }


def start_cluster() -> Any:
    """A throwaway PostgreSQL cluster (the tests' fixture: Debian's initdb/pg_ctl)."""
    root = str(HERE.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    from tests.fixtures.postgres import PostgresCluster

    cluster = PostgresCluster()
    try:
        cluster.start()
    except BaseException:
        cluster.destroy()
        raise
    return cluster


def fresh_database(cluster: Any, name: str, config_dir: Path) -> str:
    """Create database ``name`` on ``cluster``, migrate it (``lamdis db migrate``) and load
    the config tree into its catalog (``lamdis import --org local``: the service imports
    ``LAMDIS_CONFIG_DIR`` only with the local store)."""
    import asyncpg

    async def create() -> None:
        conn = await asyncpg.connect(cluster.dsn("postgres"))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    dsn = str(cluster.dsn(name))
    subprocess.run(
        [*LAMDIS, "db", "migrate", "--database-url", dsn],
        env=bench_env(),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(
        [*LAMDIS, "import", str(config_dir), "--org", "local"],
        env=bench_env(DB_PROVIDER="postgres", DATABASE_URL=dsn),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return dsn


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--starts", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--compare-pythonpath",
        metavar="DIRS",
        help="also run the service from these sources (PYTHONPATH, e.g. an older checkout's "
        "packages/*/src), alternating rounds with this checkout's, for a fair comparison",
    )
    parser.add_argument("--compare-label", default="baseline")
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="two instances sharing one throwaway PostgreSQL cluster, starts split between them",
    )
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args()
    builds: list[tuple[str, str | None]] = [("this checkout", None)]
    if args.compare_pythonpath:
        builds.insert(0, (args.compare_label, args.compare_pythonpath))
    load_before = os.getloadavg()[0]
    results: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in builds}
    cluster = start_cluster() if args.postgres else None
    try:
        with (
            tempfile.TemporaryDirectory(prefix="lamdis-burst-") as tmp,
            demo_assistant(200 if cluster else 2000) as demo,
        ):
            config_dir = write_configs(Path(tmp) / "configs", demo, tests=1 if cluster else 5)
            for n in range(args.rounds):
                for i, (label, pythonpath) in enumerate(builds):  # alternate: same load for both
                    dsn = fresh_database(cluster, f"burst_{n}_{i}", config_dir) if cluster else None
                    r = one_round(config_dir, args.starts, pythonpath, dsn)
                    results[label].append(r)
                    print(f"round {n + 1} {label}: {r}", file=sys.stderr)
    finally:
        if cluster is not None:
            cluster.destroy()  # pg_ctl stop -m fast, then the folder goes
    load_after = os.getloadavg()[0]
    pg = args.postgres
    lines = [
        "| service | round | start p50 | start p99 | max | service CPU per start | burst wall "
        "| statuses |" + (" runs final / in database | drain |" if pg else ""),
        "|---|---|---|---|---|---|---|---|" + ("---|---|" if pg else ""),
    ]
    summaries = []
    for label, rounds in results.items():
        for n, r in enumerate(rounds, 1):
            statuses = ", ".join(f"{k}: {v}" for k, v in sorted(r["statuses"].items()))
            lines.append(
                f"| {label} | {n} | {r['p50']:.0f} ms | {r['p99']:.0f} ms | {r['max']:.0f} ms | "
                f"{r['cpu_ms_per_start']:.2f} ms | {r['wall_s']:.2f} s | {statuses} |"
                + (
                    f" {r['final']} / {r['runs']} ("
                    + ", ".join(f"{k}: {v}" for k, v in sorted(r["run_statuses"].items()))
                    + f") | {r['drain_s']:.1f} s |"
                    if pg
                    else ""
                )
            )
        p99s = [r["p99"] for r in rounds]
        cpus = [r["cpu_ms_per_start"] for r in rounds]
        summaries.append(
            f"- {label}: start p99 median {statistics.median(p99s):.0f} ms (range "
            f"{min(p99s):.0f}-{max(p99s):.0f}); service CPU per start median "
            f"{statistics.median(cpus):.2f} ms (range {min(cpus):.2f}-{max(cpus):.2f})."
            + (
                f" Runs final: {sum(r['final'] for r in rounds)} of "
                f"{sum(r['runs'] for r in rounds)}."
                if pg
                else ""
            )
        )
    table = "\n".join(lines) + "\n\n" + "\n".join(summaries)
    print(table)
    if args.record:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        compared = (
            f" Rounds alternate with the same service run from {args.compare_label!r}."
            if args.compare_pythonpath
            else ""
        )
        if pg:
            setup = (
                "Two `lamdis serve` processes on two ports sharing one throwaway PostgreSQL "
                "cluster (fsync off, a fresh database per round migrated with `lamdis db "
                "migrate` and loaded with `lamdis import`), `DB_PROVIDER=postgres`, default server limits, `LAMDIS_MAX_RUNS=4` "
                "each, offline judge; suite of 1 test x 2 turns, demo assistant at 200 ms per "
                f"reply in its own process; {args.starts} clients on their own connections "
                "released at once, alternately to each instance (5 warm-up starts each "
                "before); then wait until every run in the database is final. CPU per start "
                "is both services' together."
            )
        else:
            setup = (
                "`lamdis serve` in its own process, `DB_PROVIDER=local`, default "
                "server limits (`LAMDIS_READ_TIMEOUT_SECONDS=30`, `LAMDIS_MAX_CONNECTIONS=1000`), "
                "`LAMDIS_MAX_RUNS=4`, offline judge; demo assistant at 2 s per reply in its own "
                f"process; {args.starts} clients on their own connections released at once."
            )
        section = (
            f"\n### lamdis serve, {args.starts} concurrent starts, "
            f"{'two instances on PostgreSQL' if pg else 'local store'} "
            f"(`bench/start_burst.py`) — {stamp}\n\n"
            f"Machine: {machine()}; 1-minute load average before/after {load_before:.2f} / "
            f"{load_after:.2f}. {setup}"
            f"{compared} `python bench/start_burst.py{' --postgres' if pg else ''} "
            f"--starts {args.starts} "
            f"--rounds {args.rounds}{' --compare-pythonpath ...' if compared else ''} "
            f"--record`.\n\n{table}\n"
        )
        record(section)


if __name__ == "__main__":
    main()
