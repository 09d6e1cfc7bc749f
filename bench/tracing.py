"""What OpenTelemetry tracing costs a ``lamdis run`` (issue 15 item 2).

Three ways of running the same suite (``--tests`` tests of 3 turns against the demo assistant
at 0 ms, in its own process; offline judge), alternating round by round so that all see the
same machine load:

- ``untraced``: no ``OTEL_*`` variable (what every run pays: nothing is imported);
- ``traced``: spans exported to an OTLP/HTTP sink on loopback (answers 200 to every export);
- ``collector down``: ``OTEL_EXPORTER_OTLP_ENDPOINT`` names a port nothing listens on.

Each figure is the best of ``--rounds`` (after one warm-up): wall time and CPU (user +
system) of the whole process. ``python -X importtime`` of a one-test run then shows what the
tracing modules add to the import, untraced and traced.

Usage: ``python bench/tracing.py [--tests N] [--rounds N]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import LAMDIS, _free_port, bench_env, demo_assistant, machine, run_process, write_tree


@contextmanager
def otlp_sink() -> Iterator[tuple[str, list[int]]]:
    """An OTLP/HTTP endpoint on loopback that accepts every export; yields its URL and the
    sizes of the bodies it received."""
    sizes: list[int] = []

    async def export(request: web.Request) -> web.Response:
        sizes.append(len(await request.read()))
        return web.Response(body=b"", content_type="application/x-protobuf")

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    app = web.Application()
    app.router.add_post("/v1/traces", export)
    runner = web.AppRunner(app)
    port = _free_port()

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()

    asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=10)
    try:
        yield f"http://127.0.0.1:{port}", sizes
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)


def import_cost(
    args: list[str], env: dict[str, str], cwd: Path, prefixes: tuple[str, ...]
) -> float:
    """Milliseconds of ``-X importtime`` self time of the modules starting with ``prefixes``
    (best of 5)."""
    best = float("inf")
    for _ in range(5):
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", *args[1:]],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
        )
        total = 0
        for line in proc.stderr.splitlines():
            if not line.startswith("import time:") or "|" not in line:
                continue
            fields = [f.strip() for f in line.removeprefix("import time:").split("|")]
            if fields[2].lstrip().startswith(prefixes) and fields[0].isdigit():
                total += int(fields[0])
        best = min(best, total / 1000)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tests", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lamdis-bench-tracing-"))
    write_tree(work / "suite", options.tests)
    write_tree(work / "one", 1, turns=1)
    dead = f"http://127.0.0.1:{_free_port()}"
    with demo_assistant(0) as url, otlp_sink() as (sink, sizes):
        envs = {
            "untraced": bench_env(LAMDIS_DEMO_URL=url),
            "traced": bench_env(LAMDIS_DEMO_URL=url, OTEL_EXPORTER_OTLP_ENDPOINT=sink),
            "collector down": bench_env(LAMDIS_DEMO_URL=url, OTEL_EXPORTER_OTLP_ENDPOINT=dead),
        }
        args = [*LAMDIS, "run", "tests/bench.json", "--concurrency", "8", "--quiet"]
        best: dict[str, tuple[float, float]] = {}
        for round_ in range(options.rounds + 1):
            for label, env in envs.items():
                wall, _, _, cpu = run_process(args, env, work / "suite")
                if round_:
                    old = best.get(label, (float("inf"), float("inf")))
                    best[label] = (min(old[0], wall), min(old[1], cpu))
        exported = len(sizes)
        one = [*LAMDIS, "run", "tests/bench.json", "--quiet"]
        modules = ("lamdis_core.tracing", "lamdis_core.engine._traced")
        untraced_ms = import_cost(one, envs["untraced"], work / "one", modules)
        otel_ms = import_cost(
            one, envs["traced"], work / "one", ("opentelemetry", "lamdis_http.telemetry", "google")
        )
    turns = options.tests * 3
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    print(f"{options.tests} tests x 3 turns, concurrency 8, best of {options.rounds} rounds")
    print("| run | wall | CPU | CPU per turn |")
    print("|---|---|---|---|")
    for label, (wall, cpu) in best.items():
        print(f"| {label} | {wall:.2f} s | {cpu:.2f} s | {cpu / turns * 1000:.2f} ms |")
    print(f"export requests the sink received: {exported}")
    print(
        f"import, untraced one-test run: lamdis_core.tracing + engine._traced {untraced_ms:.1f} ms"
    )
    print(f"import, traced one-test run: opentelemetry SDK, exporter, protobuf {otel_ms:.1f} ms")


if __name__ == "__main__":
    main()
