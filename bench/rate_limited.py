"""W4: a rate-limited assistant, through ``lamdis run`` end to end (issue 10).

The assistant admits 50 requests/s (a token bucket holding at most 50) and answers 429 with
``Retry-After`` (whole seconds, as HTTP says) beyond that. It runs in its own process. The
workload is 100 tests x 3 user turns = 300 requests, so no client can finish in less than
(300 - 50) / 50 = 5 s, and the issue's bound is 300 / 50 = 6 s; the target is a wall time
within 1.15 x 6 s = 6.9 s with zero ``error`` items.

Two configurations of the same workload:

- **adaptive**: ``--concurrency 100`` (every test at once) and lamdis' adaptive per-host limit;
- **fixed 32**: ``--concurrency 32`` with the adaptive limit off (``LAMDIS_HOST_LIMIT=off``):
  429s are still retried after their ``Retry-After``.

Besides the process wall and the run (``durationMs``: the engine's first test to its last), it
shows where the rest of the process goes: "start" from launching the process to the run's
start (interpreter, imports, loading the tests), "end" from the run's end to the process'
exit (closing connections, reports, leaving). ``--baseline PYTHON`` runs another build's
interpreter (an older checkout's ``.venv/bin/python``) in the same rounds, alternating with
this one, so that both see the same load. The measured processes cache their bytecode (as an
installed package has it), whatever ``PYTHONDONTWRITEBYTECODE`` the shell sets.

    .venv/bin/python bench/rate_limited.py [--rounds 3] [--baseline PYTHON] [--record [LABEL]]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import bench_env, record

REPO = Path(__file__).resolve().parents[1]
RATE = 50.0
TESTS = 100
TURNS = 3


def serve(port: int, rate: float) -> None:
    """The rate-limited assistant (lamdis-runs contract), until killed."""
    from aiohttp import web

    state = {"tokens": rate, "at": time.monotonic(), "admitted": 0, "refused": 0}

    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        now = time.monotonic()
        state["tokens"] = min(rate, state["tokens"] + (now - state["at"]) * rate)
        state["at"] = now
        if state["tokens"] < 1:
            state["refused"] += 1
            wait = math.ceil((1 - state["tokens"]) / rate)
            return web.json_response(
                {"error": "slow down"}, status=429, headers={"Retry-After": str(wait)}
            )
        state["tokens"] -= 1
        state["admitted"] += 1
        return web.json_response({"reply": f"Noted: {body['message']}. Investing involves risk."})

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(state)

    async def reset(request: web.Request) -> web.Response:
        state.update(tokens=rate, at=time.monotonic(), admitted=0, refused=0)
        return web.json_response(state)

    app = web.Application()
    app.router.add_post("/chat", chat)
    app.router.add_get("/stats", stats)
    app.router.add_post("/reset", reset)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _call(url: str, method: str = "GET") -> dict[str, Any]:
    request = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(request, timeout=5) as response:
        data: dict[str, Any] = json.loads(response.read())
        return data


def _write_tree(root: Path) -> Path:
    (root / "assistants").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "assistants" / "limited.json").write_text(
        json.dumps(
            {
                "id": "assistants/limited",
                "env": {"channel": "http_chat", "baseUrl": "${BENCH_URL}", "timeoutMs": 10000},
            }
        )
    )
    tests = [
        {
            "id": f"t{i}",
            "steps": [
                *({"type": "message", "content": f"test {i} turn {t}"} for t in range(TURNS)),
                {"type": "includes", "includes": ["risk"]},
            ],
        }
        for i in range(TESTS)
    ]
    path = root / "tests" / "w4.json"
    path.write_text(json.dumps({"id": "w4", "assistantRef": "assistants/limited", "tests": tests}))
    return path


def _stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _run(
    python: str, tests: Path, url: str, concurrency: int, adaptive: bool, out: Path
) -> dict[str, Any]:
    _call(f"{url}/reset", "POST")
    env = {
        k: v for k, v in bench_env().items() if not k.startswith(("OPENAI_", "JUDGE_", "LAMDIS_"))
    }
    env["BENCH_URL"] = url
    env["LAMDIS_HOST_LIMIT"] = "adaptive" if adaptive else "off"
    report = out / "summary.json"
    launched = time.time()
    started = time.perf_counter()
    proc = subprocess.run(
        [
            python,
            "-m",
            "lamdis_http.cli",
            "run",
            str(tests),
            "--quiet",
            "--concurrency",
            str(concurrency),
            "--json",
            str(report),
            "--results-dir",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    wall = time.perf_counter() - started
    summary = json.loads(report.read_text())
    server = _call(f"{url}/stats")
    return {
        "wall": wall,
        "run": summary["durationMs"] / 1000,
        "start": _stamp(summary["startedAt"]) - launched,
        "end": launched + wall - _stamp(summary["finishedAt"]),
        "code": proc.returncode,
        "errors": summary["totals"]["errors"],
        "passed": summary["totals"]["passed"],
        "rate_limited": summary["throttling"]["rateLimited"],
        "backoff_s": summary["throttling"]["backoffMs"] / 1000,
        "queued_s": summary["throttling"]["queuedMs"] / 1000,
        "refused": server["refused"],
        "admitted": server["admitted"],
    }


def _row(label: str, build: str, concurrency: int, results: list[dict[str, Any]]) -> str:
    median = sorted(results, key=lambda r: r["wall"])[len(results) // 2]
    walls = [r["wall"] for r in results]
    runs = [r["run"] for r in results]
    name = f"{label}, {build}" if build else label
    return (
        f"| {name} | {concurrency} | {statistics.median(walls):.2f} s "
        f"({min(walls):.2f}-{max(walls):.2f}) | {statistics.median(walls) / 6:.2f} x | "
        f"{statistics.median(runs):.2f} s | {statistics.median(runs) / 6:.2f} x | "
        f"{statistics.median(r['start'] for r in results):.2f} s / "
        f"{statistics.median(r['end'] for r in results):.2f} s | "
        f"{max(r['errors'] for r in results)} | {median['refused']} | "
        f"{median['backoff_s']:.1f} s | {median['queued_s']:.1f} s |"
    )


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--record",
        nargs="?",
        const="",
        metavar="LABEL",
        help="append the table to bench/RESULTS.md (under LABEL)",
    )
    parser.add_argument("--baseline", metavar="PYTHON", help="another build's interpreter")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, RATE)
        return
    port = _free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    url = f"http://127.0.0.1:{port}"
    load_before = os.getloadavg()[0]
    rows: list[str] = []
    try:
        for _ in range(100):
            try:
                _call(f"{url}/stats")
                break
            except OSError:
                time.sleep(0.05)
        builds = [("this build", sys.executable)]
        if args.baseline:
            builds.insert(0, ("baseline", args.baseline))
        with tempfile.TemporaryDirectory(prefix="lamdis-w4-") as tmp:
            tests = _write_tree(Path(tmp) / "tree")
            for label, concurrency, adaptive in (("adaptive", 100, True), ("fixed 32", 32, False)):
                results: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in builds}
                # One warm-up per build (bytecode cache), then the builds alternate round by round.
                for index in range(-1, args.rounds):
                    for name, python in builds:
                        out = Path(tmp) / f"{label}-{name}-{index}".replace(" ", "")
                        out.mkdir()
                        result = _run(python, tests, url, concurrency, adaptive, out)
                        if index < 0:
                            continue
                        results[name].append(result)
                        print(
                            label,
                            name,
                            {
                                k: round(v, 2) if isinstance(v, float) else v
                                for k, v in result.items()
                            },
                        )
                for name, _ in builds:
                    rows.append(
                        _row(label, name if args.baseline else "", concurrency, results[name])
                    )
    finally:
        server.terminate()
        server.wait(timeout=10)
    header = (
        "| configuration | --concurrency | process wall (median, range) | vs 6 s "
        "| run (durationMs) | vs 6 s | start / end (median) | error items (max) "
        "| 429s (median run) | backoff, summed over tests | queued for the limit, summed |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|"
    )
    table = header + "\n" + "\n".join(rows)
    print(table)
    if args.record:
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        load_after = os.getloadavg()[0]
        text = (
            f"\n### W4 rate-limited (`bench/rate_limited.py`){', ' + args.record if args.record else ''}"
            f" — {now}\n\n"
            f"Machine: {machine()}; 1-minute load average before/after "
            f"{load_before:.2f} / {load_after:.2f}. Assistant: token bucket of 50 at 50 requests/s "
            "in its own process, 429 with `Retry-After` in whole seconds; 100 tests x 3 turns, "
            f"offline judge, whole `lamdis run` process, {args.rounds} rounds after a warm-up"
            f"{', alternating with the baseline' if args.baseline else ''}. "
            f"`python bench/rate_limited.py --rounds {args.rounds}"
            f"{' --baseline ...' if args.baseline else ''} --record ...`.\n\n{table}\n"
        )
        record(text)


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
