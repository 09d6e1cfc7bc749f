"""The lamdis benchmark (``make bench``): wall time, turns/s and peak RSS of ``lamdis run``.

Workloads (issue 2, "Performance"):

- W1: 20 tests x 3 user turns, demo assistant at 100 ms per reply, ``--concurrency 20``.
  The critical path is 3 x 100 ms = 0.3 s.
- W2: 200 tests x 3 user turns, demo assistant at 0 ms.
- a 1-test run (1 test, 1 turn, 0 ms) and ``lamdis --help``.

The demo assistant runs in its own process (``lamdis demo-assistant``), so its CPU is not
counted as the runner's. Whole-process figures time ``lamdis run`` as a subprocess and read
its peak RSS from ``wait4``; engine-only figures time ``Engine.run`` in this process on a
plan loaded beforehand (same targets, judge and requester the CLI builds). Each figure is the
median of ``--rounds`` runs after one warm-up.

Usage: ``python bench/run.py [--rounds N] [--record]`` (``--record`` appends the table to
bench/RESULTS.md with the machine and date).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PYCACHE = Path(tempfile.gettempdir()) / "lamdis-bench-pycache"
LAMDIS = [sys.executable, "-m", "lamdis_http.cli"]
USER_TURNS = ("hello", "What is diversification?", "Should I put everything in one stock?")

TARGETS = {
    "W1 whole process": "< 0.8 s",
    "W1 engine-only": "<= 0.39 s (1.3 x 0.3 s)",
    "W2 whole process": "< 1.0 s",
    "W2 engine-only turns/s": ">= 2000",
    "peak RSS": "< 80 MiB",
    "1-test run": "< 0.4 s",
    "lamdis --help": "< 0.25 s",
}


def wait_healthy(
    proc: subprocess.Popen[bytes], url: str, *, seconds: float, log: Path | None = None
) -> None:
    """Wait for ``lamdis serve`` at ``url`` to answer ``/health`` 200; kill it and raise
    (with the end of its ``log``) when it does not within ``seconds``."""
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    proc.kill()
    tail = f":\n{log.read_text()[-2000:]}" if log is not None else ""
    raise RuntimeError(f"lamdis serve did not start{tail}")


def record(section: str) -> None:
    """Append ``section`` to bench/RESULTS.md, as every benchmark's ``--record`` does."""
    results = HERE / "RESULTS.md"
    with results.open("a", encoding="utf-8") as out:
        out.write(section)
    print(f"recorded in {results}", file=sys.stderr)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def demo_assistant(latency_ms: float) -> Iterator[str]:
    """``lamdis demo-assistant`` in its own process; yields its base URL."""
    port = _free_port()
    proc = subprocess.Popen(
        [*LAMDIS, "demo-assistant", "--port", str(port), "--latency-ms", str(latency_ms)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=bench_env(),
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        if str(port) not in banner:
            raise RuntimeError(f"demo assistant did not start: {banner!r}")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def write_tree(root: Path, tests: int, turns: int = 3) -> Path:
    """A config tree: one assistant at ``${LAMDIS_DEMO_URL}``, ``tests`` tests of ``turns``."""
    (root / "assistants").mkdir(parents=True, exist_ok=True)
    (root / "tests").mkdir(parents=True, exist_ok=True)
    assistant = {
        "id": "demo",
        "env": {"channel": "http_chat", "baseUrl": "${LAMDIS_DEMO_URL}", "timeoutMs": 10000},
    }
    (root / "assistants/demo.json").write_text(json.dumps(assistant))
    cases = []
    for n in range(tests):
        steps: list[dict[str, Any]] = [
            {"type": "message", "role": "user", "content": USER_TURNS[i % len(USER_TURNS)]}
            for i in range(turns)
        ]
        steps.append({"type": "includes", "includes": ["general information"]})
        cases.append({"id": f"t{n:03d}", "name": f"bench test {n}", "steps": steps})
    doc = {"id": "bench", "assistantRef": "assistants/demo", "tests": cases}
    (root / "tests/bench.json").write_text(json.dumps(doc))
    return root / "tests/bench.json"


def run_process(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, int, float]:
    """Run a command; return (wall seconds, peak RSS MiB, exit code, CPU seconds)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        args, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.stderr is not None:
        err = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"{' '.join(args)} exited {proc.returncode}:\n{err}")
    cpu = usage.ru_utime + usage.ru_stime
    return wall, usage.ru_maxrss / 1024, proc.returncode, cpu  # ru_maxrss is KiB on Linux


def bench_env(**extra: str) -> dict[str, str]:
    """The environment for measured subprocesses: bytecode caching on.

    An installed package has its ``.pyc`` files (pip and ``uv sync --compile-bytecode`` write
    them, and any first import does where it may). Shells that set
    ``PYTHONDONTWRITEBYTECODE`` would make every run recompile every module — 0.9 s of
    ``compile()`` here — which measures the shell, not lamdis. The cache goes to a folder
    of its own (``PYTHONPYCACHEPREFIX``), so the source tree stays clean.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    env.update(extra)
    return env


def whole_process(
    file: Path, url: str, *, concurrency: int, rounds: int, work: Path
) -> dict[str, float]:
    env = bench_env(LAMDIS_DEMO_URL=url, JUDGE_PROVIDER="offline")
    args = [*LAMDIS, "run", str(file), "--concurrency", str(concurrency), "--quiet"]
    args += ["--results-dir", str(work / "results")]
    samples = [run_process(args, env, work) for _ in range(rounds + 1)][1:]  # drop the warm-up
    codes = {s[2] for s in samples}
    if codes != {0}:
        raise RuntimeError(f"benchmark run did not pass (exit codes {codes})")
    return {
        "wall": statistics.median(s[0] for s in samples),
        "rss": max(s[1] for s in samples),
        "cpu": statistics.median(s[3] for s in samples),
    }


def engine_only(file: Path, url: str, *, concurrency: int, rounds: int) -> dict[str, float]:
    """Median ``Engine.run`` wall time on a preloaded plan, in this process."""
    from lamdis_core.config.loader import load_plan
    from lamdis_core.engine import Engine
    from lamdis_http import registry
    from lamdis_http.requests import AiohttpRequester

    env = dict(os.environ, LAMDIS_DEMO_URL=url, JUDGE_PROVIDER="offline")
    plan = load_plan([str(file)], env=env)

    async def once() -> tuple[float, int, float]:
        targets = registry.load_target_factories(env, channels={"http_chat"})
        judge = registry.load_judge(env)
        requester = AiohttpRequester()
        engine = Engine(targets=targets, judge=judge, requester=requester, env=env)
        try:
            started, cpu_started = time.perf_counter(), time.process_time()
            result = await engine.run(plan, concurrency=concurrency)
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
        finally:
            await requester.aclose()
            for factory in targets.values():
                await factory.aclose()
        if result.totals.passed != len(plan.entries):
            raise RuntimeError(f"engine-only run did not pass: {result.totals}")
        turns = sum(item.message_counts.assistant for item in result.items)
        return elapsed, turns, cpu

    samples = [asyncio.run(once()) for _ in range(rounds + 1)][1:]
    wall = statistics.median(s[0] for s in samples)
    turns = samples[0][1]
    cpu = statistics.median(s[2] for s in samples)
    return {"wall": wall, "turns": turns, "turns_per_s": turns / wall, "cpu": cpu}


def help_time(rounds: int) -> float:
    samples = []
    for _ in range(rounds + 1):
        started = time.perf_counter()
        subprocess.run([*LAMDIS, "--help"], stdout=subprocess.DEVNULL, check=True, env=bench_env())
        samples.append(time.perf_counter() - started)
    return statistics.median(samples[1:])


def lamdis_script_help_time(rounds: int) -> float | None:
    script = shutil.which("lamdis") or str(Path(sys.executable).with_name("lamdis"))
    if not Path(script).exists():
        return None
    samples = []
    for _ in range(rounds + 1):
        started = time.perf_counter()
        subprocess.run([script, "--help"], stdout=subprocess.DEVNULL, check=True, env=bench_env())
        samples.append(time.perf_counter() - started)
    return statistics.median(samples[1:])


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
    parser.add_argument("--rounds", type=int, default=3, help="measured runs per figure (median)")
    parser.add_argument(
        "--record", action="store_true", help="append the table to bench/RESULTS.md"
    )
    args = parser.parse_args()
    rows: list[tuple[str, str, str]] = []
    load_before = os.getloadavg()[0]

    with tempfile.TemporaryDirectory(prefix="lamdis-bench-") as tmp:
        work = Path(tmp)
        w1 = write_tree(work / "w1", 20)
        w2 = write_tree(work / "w2", 200)
        one = write_tree(work / "one", 1, turns=1)

        with demo_assistant(100) as url:
            proc = whole_process(w1, url, concurrency=20, rounds=args.rounds, work=work)
            eng = engine_only(w1, url, concurrency=20, rounds=args.rounds)
            rows.append(
                (
                    "W1 whole process",
                    f"{proc['wall']:.3f} s",
                    f"CPU {proc['cpu']:.3f} s, peak RSS {proc['rss']:.1f} MiB",
                )
            )
            rows.append(
                (
                    "W1 engine-only",
                    f"{eng['wall']:.3f} s",
                    f"{eng['wall'] / 0.3:.2f} x critical path, CPU {eng['cpu']:.3f} s",
                )
            )
            rss = proc["rss"]
        with demo_assistant(0) as url:
            proc = whole_process(w2, url, concurrency=20, rounds=args.rounds, work=work)
            eng = engine_only(w2, url, concurrency=20, rounds=args.rounds)
            rows.append(
                (
                    "W2 whole process",
                    f"{proc['wall']:.3f} s",
                    f"CPU {proc['cpu']:.3f} s, peak RSS {proc['rss']:.1f} MiB",
                )
            )
            rows.append(
                (
                    "W2 engine-only turns/s",
                    f"{eng['turns_per_s']:.0f}",
                    f"{int(eng['turns'])} turns in {eng['wall']:.3f} s, CPU {eng['cpu']:.3f} s",
                )
            )
            rss = max(rss, proc["rss"])
            single = whole_process(one, url, concurrency=8, rounds=args.rounds, work=work)
            rows.append(
                (
                    "1-test run",
                    f"{single['wall']:.3f} s",
                    f"CPU {single['cpu']:.3f} s, peak RSS {single['rss']:.1f} MiB",
                )
            )
            rss = max(rss, single["rss"])
        rows.append(("peak RSS", f"{rss:.1f} MiB", "max over the runs above"))
        rows.append(
            ("lamdis --help", f"{help_time(args.rounds):.3f} s", "python -m lamdis_http.cli")
        )
        script = lamdis_script_help_time(args.rounds)
        if script is not None:
            rows.append(
                ("lamdis --help (script)", f"{script:.3f} s", "the installed console script")
            )

    load_after = os.getloadavg()[0]
    print(
        f"load average (1 min) before/after: {load_before:.2f} / {load_after:.2f} on {os.cpu_count()} cores"
    )
    header = ("figure", "measured", "target", "notes")
    table = [header] + [
        (name, value, TARGETS.get(name.split(" (")[0], ""), notes) for name, value, notes in rows
    ]
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    for row in table:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())

    if args.record:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        lines = [
            "",
            f"### `lamdis run` / CLI — {stamp}",
            "",
            f"Machine: {machine()}. Demo assistant in its own process on the same machine;",
            f"median of {args.rounds} runs after a warm-up; offline judge. 1-minute load average",
            f"before/after: {load_before:.2f} / {load_after:.2f} (other work on the machine).",
            "",
            "| " + " | ".join(header) + " |",
            "|" + "|".join("---" for _ in header) + "|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in table[1:]]
        record("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
