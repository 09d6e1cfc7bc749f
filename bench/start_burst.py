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

Usage: ``python bench/start_burst.py [--starts 500] [--rounds 3] [--record]``.
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
import urllib.request
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import LAMDIS, bench_env, demo_assistant, machine

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
    config_dir: Path, server_pythonpath: str | None, **extra_env: str
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = bench_env(
        DB_PROVIDER="local",
        PORT=str(port),
        LAMDIS_CONFIG_DIR=str(config_dir),
        LAMDIS_API_TOKEN=TOKEN,
        LAMDIS_LOG_LEVEL="WARNING",
        JUDGE_PROVIDER="offline",
        **extra_env,
    )
    for name in ("DATABASE_URL", "MONGO_URL"):
        env.pop(name, None)
    if server_pythonpath:
        env["PYTHONPATH"] = server_pythonpath
    proc = subprocess.Popen(
        [*LAMDIS, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as resp:
                if resp.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("lamdis serve did not start")


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


async def burst(url: str, starts: int) -> tuple[list[float], Counter[int], float]:
    """``starts`` clients, each on its own connection, released together.

    A bare asyncio client with a pre-built request: aiohttp's client costs a few ms of CPU
    per request, and on 2 shared cores that would be measured as the service's latency."""
    host, port_text = url.removeprefix("http://").split(":")
    port = int(port_text)
    request = _request(host, port)
    for _ in range(5):  # warm-up: first-use imports, the suite's plan
        await _start_once(host, port, request)
    gate = asyncio.Event()

    async def one() -> tuple[float, int]:
        await gate.wait()
        t0 = time.perf_counter()
        status = await _start_once(host, port, request)
        return (time.perf_counter() - t0) * 1000, status

    tasks = [asyncio.create_task(one()) for _ in range(starts)]
    await asyncio.sleep(0.1)
    started = time.perf_counter()
    gate.set()
    results = await asyncio.gather(*tasks)
    wall = time.perf_counter() - started
    return [r[0] for r in results], Counter(r[1] for r in results), wall


def one_round(config_dir: Path, starts: int, server_pythonpath: str | None) -> dict[str, Any]:
    proc, url = start_service(config_dir, server_pythonpath)
    try:
        before = cpu_seconds(proc.pid)
        latencies, statuses, wall = asyncio.run(burst(url, starts))
        after = cpu_seconds(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    ordered = sorted(latencies)
    # The warm-up's five starts ran before ``before``: the CPU delta covers the burst only.
    return {
        "p50": statistics.median(ordered),
        "p99": ordered[max(0, round(0.99 * len(ordered)) - 1)],
        "max": ordered[-1],
        "statuses": dict(statuses),
        "cpu_ms_per_start": (after - before) * 1000 / starts,
        "wall_s": wall,
    }


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
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args()
    builds: list[tuple[str, str | None]] = [("this checkout", None)]
    if args.compare_pythonpath:
        builds.insert(0, (args.compare_label, args.compare_pythonpath))
    load_before = os.getloadavg()[0]
    results: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in builds}
    with tempfile.TemporaryDirectory(prefix="lamdis-burst-") as tmp, demo_assistant(2000) as demo:
        config_dir = write_configs(Path(tmp) / "configs", demo)
        for n in range(args.rounds):
            for label, pythonpath in builds:  # alternate: the machine's load hits both alike
                r = one_round(config_dir, args.starts, pythonpath)
                results[label].append(r)
                print(f"round {n + 1} {label}: {r}", file=sys.stderr)
    load_after = os.getloadavg()[0]
    lines = [
        "| service | round | start p50 | start p99 | max | service CPU per start | burst wall "
        "| statuses |",
        "|---|---|---|---|---|---|---|---|",
    ]
    summaries = []
    for label, rounds in results.items():
        for n, r in enumerate(rounds, 1):
            statuses = ", ".join(f"{k}: {v}" for k, v in sorted(r["statuses"].items()))
            lines.append(
                f"| {label} | {n} | {r['p50']:.0f} ms | {r['p99']:.0f} ms | {r['max']:.0f} ms | "
                f"{r['cpu_ms_per_start']:.2f} ms | {r['wall_s']:.2f} s | {statuses} |"
            )
        p99s = [r["p99"] for r in rounds]
        cpus = [r["cpu_ms_per_start"] for r in rounds]
        summaries.append(
            f"- {label}: start p99 median {statistics.median(p99s):.0f} ms (range "
            f"{min(p99s):.0f}-{max(p99s):.0f}); service CPU per start median "
            f"{statistics.median(cpus):.2f} ms (range {min(cpus):.2f}-{max(cpus):.2f})."
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
        section = (
            f"\n### lamdis serve, {args.starts} concurrent starts, local store "
            f"(`bench/start_burst.py`) — {stamp}\n\n"
            f"Machine: {machine()}; 1-minute load average before/after {load_before:.2f} / "
            f"{load_after:.2f}. `lamdis serve` in its own process, `DB_PROVIDER=local`, default "
            "server limits (`LAMDIS_READ_TIMEOUT_SECONDS=30`, `LAMDIS_MAX_CONNECTIONS=1000`), "
            "`LAMDIS_MAX_RUNS=4`, offline judge; demo assistant at 2 s per reply in its own "
            f"process; {args.starts} clients on their own connections released at once."
            f"{compared} `python bench/start_burst.py --starts {args.starts} "
            f"--rounds {args.rounds}{' --compare-pythonpath ...' if compared else ''} "
            f"--record`.\n\n{table}\n"
        )
        with (HERE / "RESULTS.md").open("a", encoding="utf-8") as fh:
            fh.write(section)
        print(f"recorded in {HERE / 'RESULTS.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()
