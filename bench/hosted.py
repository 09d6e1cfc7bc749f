"""Benchmark of the hosted mode (issue 3, "Performance").

The service (``build_app`` with the in-memory store, offline judge, http_chat target) is
served on a loopback port; the demo assistant answers every turn after 50 ms. 20 concurrent
clients start 200 runs in total over HTTP (``POST /internal/runs/start``); each run is a
suite of 5 tests of 2 user turns each. The store is wrapped to count every call.

Figures:

- start latency p50 / p99: the client's view of ``POST /internal/runs/start`` (ms).
- runs finished per second: 200 / (last run finished - first start sent).
- store writes per assistant turn: write calls (``create_run``, a ``claim_next`` that claimed,
  ``renew_lease``, ``update_progress``, ``append_item``, ``finish_run``, ``request_stop``,
  ``record_webhook``) divided by the chat turns the demo assistant served; shown with and
  without ``create_run`` (the API's own write, one per start).

Usage: ``python bench/hosted.py [--runs 200] [--clients 20] [--max-runs 4] [--record]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from lamdis_core.offline_judge import OfflineJudge
from lamdis_core.ports.catalog import CatalogKind
from lamdis_core.testing.memory import InMemoryCatalog, InMemoryRunStore
from lamdis_http.bootstrap import Settings, build_app
from lamdis_http.requests import AiohttpRequester
from lamdis_http.targets.http_chat import HttpChatTargetFactory
from run import record

HERE = Path(__file__).resolve().parent
ORG = "bench"
WRITES = {
    "create_run",
    "renew_lease",
    "update_progress",
    "append_item",
    "finish_run",
    "request_stop",
    "record_webhook",
}


class CountingStore:
    """Wraps a RunStore and counts calls by method (a claim only counts when it claimed)."""

    def __init__(self, inner: InMemoryRunStore) -> None:
        self._inner = inner
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if not callable(target) or name.startswith("_"):
            return target

        async def counted(*args: Any, **kwargs: Any) -> Any:
            result = await target(*args, **kwargs)
            if name == "claim_next":
                self.calls["claim_next" if result is not None else "claim_next(empty)"] += 1
            elif name == "recover_expired":
                self.calls["recover_expired" if result else "recover_expired(none)"] += 1
            else:
                self.calls[name] += 1
            return result

        return counted

    @property
    def writes(self) -> int:
        return sum(
            n
            for k, n in self.calls.items()
            if k in WRITES or k in ("claim_next", "recover_expired")
        )


async def _seed(catalog: InMemoryCatalog, demo_url: str) -> None:
    await catalog.upsert(
        CatalogKind.ENVIRONMENTS,
        ORG,
        {"id": "demo", "env": {"channel": "http_chat", "baseUrl": demo_url}},
    )
    tests = []
    for i in range(5):
        tests.append(
            {
                "id": f"t{i}",
                "steps": [
                    {"type": "message", "content": "hello"},
                    {"type": "message", "content": "Tell me about diversification"},
                    {"type": "includes", "includes": ["diversif"]},
                ],
            }
        )
    await catalog.upsert(CatalogKind.TESTS, ORG, {"id": "bench-tests", "tests": tests})
    await catalog.upsert(
        CatalogKind.SUITES,
        ORG,
        {
            "id": "bench",
            "assistants": {"include": ["demo"]},
            "tests": {"includeFiles": ["bench-tests"]},
        },
    )


async def _chat_turns(session: aiohttp.ClientSession, demo_url: str) -> int:
    async with session.get(demo_url + "/demo/stats") as resp:
        stats = await resp.json()
    return int(stats.get("chat_requests", stats.get("counts", {}).get("chat_requests", 0)))


def _status(store: CountingStore, run_id: str) -> Any:
    # Peek without the store's deep copy: the benchmark must not load the loop it measures.
    return store._inner._runs[run_id].run.status


async def _start_demo_process(latency_ms: float) -> tuple[asyncio.subprocess.Process, str]:
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "lamdis_http.cli",
        "demo-assistant",
        "--port",
        str(port),
        "--latency-ms",
        str(latency_ms),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            try:
                async with session.get(url + "/health") as resp:
                    if resp.status == 200:
                        return proc, url
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    proc.kill()
    raise RuntimeError("the demo assistant did not start")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _clients_process(base: str, runs: int, clients: int) -> list[float]:
    """Start the runs from a separate process, as CI jobs would: client CPU stays off the
    service's event loop."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__)),
        "--client-of",
        base,
        "--runs",
        str(runs),
        "--clients",
        str(clients),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError("the client process failed")
    import json

    data: list[float] = json.loads(out)
    return data


async def client_main(base: str, runs: int, clients: int) -> list[float]:
    latencies: list[float] = []
    per_client = [runs // clients + (1 if i < runs % clients else 0) for i in range(clients)]
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        # Open the connections first, as a CI fleet's keep-alive pool would be.
        await asyncio.gather(*(session.get(base + "/health") for _ in range(clients)))

        async def client(n: int) -> None:
            for _ in range(n):
                t0 = time.perf_counter()
                async with session.post(
                    base + "/internal/runs/start", json={"suiteId": "bench", "trigger": "ci"}
                ) as resp:
                    body = await resp.json()
                latencies.append((time.perf_counter() - t0) * 1000)
                if resp.status != 202:
                    raise RuntimeError(f"start failed: {resp.status} {body}")

        await asyncio.gather(*(client(n) for n in per_client))
    return latencies


async def bench(runs: int, clients: int, max_runs: int, latency_ms: float) -> dict[str, Any]:
    demo_proc, demo_url = await _start_demo_process(latency_ms)
    store = CountingStore(InMemoryRunStore())
    catalog = InMemoryCatalog()
    await _seed(catalog, demo_url)
    targets = {"http_chat": HttpChatTargetFactory()}
    requester = AiohttpRequester()
    with tempfile.TemporaryDirectory() as config_dir:
        settings = Settings(config_dir=Path(config_dir), max_runs=max_runs, env={})
        app = build_app(
            settings,
            store=store,
            catalog=catalog,
            judge=OfflineJudge(),  # type: ignore[arg-type]
            targets=targets,
            requester=requester,
            poll_seconds=1.0,
        )
        handler_ms: list[float] = []

        @web.middleware
        async def timing(request: web.Request, handler: Any) -> web.StreamResponse:
            t0 = time.perf_counter()
            try:
                return await handler(request)
            finally:
                if request.path == "/internal/runs/start":
                    handler_ms.append((time.perf_counter() - t0) * 1000)

        app.middlewares.insert(0, timing)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
        base = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as session:
                # Warm-up: one run end to end (first-use imports, connection pools), not counted.
                async with session.post(
                    base + "/internal/runs/start", json={"suiteId": "bench"}
                ) as resp:
                    warm_id = (await resp.json())["runId"]
                while not _status(store, warm_id).is_final:  # noqa: ASYNC110  # polling is the point
                    await asyncio.sleep(0.05)
                store.calls.clear()
                handler_ms.clear()
                turns_before = await _chat_turns(session, demo_url)
                known = set(store._inner._runs)
                started = time.perf_counter()
                latencies = await _clients_process(base, runs, clients)
                all_started = time.perf_counter()
                run_ids = [r for r in store._inner._runs if r not in known]
                pending = set(run_ids)
                statuses: Counter[str] = Counter()
                while pending:
                    await asyncio.sleep(0.05)
                    for run_id in list(pending):
                        status = _status(store, run_id)
                        if status.is_final:
                            pending.discard(run_id)
                            statuses[str(status)] += 1
                finished = time.perf_counter()
                turns = await _chat_turns(session, demo_url) - turns_before
        finally:
            await runner.cleanup()
            for factory in targets.values():
                await factory.aclose()
            await requester.aclose()
            demo_proc.terminate()
            await demo_proc.wait()
    ordered = sorted(latencies)
    p99_index = max(0, round(0.99 * len(ordered)) - 1)
    writes = store.writes
    return {
        "runs": runs,
        "clients": clients,
        "max_runs": max_runs,
        "latency_ms": latency_ms,
        "statuses": dict(statuses),
        "start_p50_ms": statistics.median(ordered),
        "start_p99_ms": ordered[p99_index],
        "start_max_ms": ordered[-1],
        "handler_p50_ms": statistics.median(handler_ms),
        "handler_p99_ms": sorted(handler_ms)[max(0, round(0.99 * len(handler_ms)) - 1)],
        "all_started_s": all_started - started,
        "wall_s": finished - started,
        "runs_per_s": runs / (finished - started),
        "turns": turns,
        "writes": writes,
        "writes_per_turn": writes / turns if turns else float("nan"),
        "writes_per_turn_excl_create": (writes - store.calls["create_run"]) / turns
        if turns
        else float("nan"),
        "calls": dict(sorted(store.calls.items())),
    }


def _table(r: dict[str, Any]) -> str:
    rows = [
        (
            "runs started / clients / LAMDIS_MAX_RUNS",
            f"{r['runs']} / {r['clients']} / {r['max_runs']}",
        ),
        ("final statuses", ", ".join(f"{k} {v}" for k, v in r["statuses"].items())),
        (
            "start latency p50 / p99 / max",
            f"{r['start_p50_ms']:.1f} ms / {r['start_p99_ms']:.1f} ms / {r['start_max_ms']:.1f} ms",
        ),
        (
            "server time in the start handler p50 / p99",
            f"{r['handler_p50_ms']:.2f} ms / {r['handler_p99_ms']:.2f} ms",
        ),
        (
            "client process launched to last start answered (includes its Python startup)",
            f"{r['all_started_s']:.2f} s",
        ),
        ("runs finished per second", f"{r['runs_per_s']:.1f} (wall {r['wall_s']:.1f} s)"),
        ("assistant turns served", str(r["turns"])),
        (
            "store writes per assistant turn",
            f"{r['writes_per_turn']:.2f} ({r['writes_per_turn_excl_create']:.2f} without create_run)",
        ),
        ("store calls", ", ".join(f"{k} {v}" for k, v in r["calls"].items())),
    ]
    out = ["| figure | measured |", "|---|---|"]
    out += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(out)


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, load average {load:.1f} at start"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--max-runs", type=int, default=4)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--rounds", type=int, default=1, help="repeat and report each round")
    parser.add_argument(
        "--record", action="store_true", help="append the table to bench/RESULTS.md"
    )
    parser.add_argument("--client-of", help=argparse.SUPPRESS)  # internal: the client process
    args = parser.parse_args()
    if args.client_of:
        import json

        print(json.dumps(asyncio.run(client_main(args.client_of, args.runs, args.clients))))
        return
    machine = _machine()
    import logging

    import structlog

    # Access and run logs would measure the console, not the service: keep warnings only.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    results = [
        asyncio.run(bench(args.runs, args.clients, args.max_runs, args.latency_ms))
        for _ in range(max(1, args.rounds))
    ]
    table = "\n\n".join(_table(r) for r in results)
    if len(results) > 1:
        p99s = sorted(r["start_p99_ms"] for r in results)
        table += (
            f"\n\nOver {len(results)} rounds: start p99 median "
            f"{statistics.median(p99s):.1f} ms (range {p99s[0]:.1f}-{p99s[-1]:.1f}); runs/s median "
            f"{statistics.median(r['runs_per_s'] for r in results):.1f}."
        )
    print(table)
    if args.record:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        section = (
            f"\n### lamdis serve, hosted mode (`bench/hosted.py`) — {stamp}\n\n"
            f"Machine: {machine}. In-memory store (wrapped to count calls), offline judge, "
            f"demo assistant in its own process at {args.latency_ms:.0f} ms per reply, the "
            f"{args.clients} clients in another process (loopback HTTP); each run is 5 tests x 2 "
            f"user turns. `python bench/hosted.py --max-runs {args.max_runs} --rounds {args.rounds} --record`.\n\n{table}\n"
        )
        record(section)


if __name__ == "__main__":
    main()
