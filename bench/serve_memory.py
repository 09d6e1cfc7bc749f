"""``lamdis serve`` memory over 2,000 runs on the local store (issue 16, "Also keep").

The local store keeps runs in memory; past ``LAMDIS_LOCAL_RUN_HISTORY`` (default 1000) it
drops the oldest finished ones. This harness shows where the service's resident memory goes
as runs accumulate, with the default cap and with a small one, so a long-lived local server
can be seen to level off rather than grow with every run.

``lamdis serve`` runs as its own process (``DB_PROVIDER=local``, offline judge), with a
config dir holding one suite of 1 test x 2 turns (``start_burst.py``'s config tree); the demo
assistant runs in another process and answers at once. For each cap the service is started
fresh, then starts are sent in batches of ``--batch`` and each batch is waited for until the
store lists no queued or running run; every ``--sample-every`` finished runs, ``VmRSS`` (and
the peak, ``VmHWM``) is read from ``/proc/<pid>/status``.

Usage: ``python bench/serve_memory.py [--runs 2000] [--caps default,200] [--record]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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

from run import demo_assistant, machine, record
from start_burst import TOKEN, _request, _start_once, start_service, write_configs

HERE = Path(__file__).resolve().parent
DEFAULT = "default"


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of ``pid`` in MB (the kernel reports kB)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def list_runs(url: str, status: str) -> list[dict[str, Any]]:
    req = urllib.request.Request(
        f"{url}/internal/runs?status={status}&limit=200", headers={"x-api-token": TOKEN}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        runs: list[dict[str, Any]] = json.load(resp)["runs"]
    return runs


def wait_idle(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while list_runs(url, "queued") or list_runs(url, "running"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"runs still queued or running after {timeout:.0f} s")
        time.sleep(0.2)


async def send_batch(url: str, count: int) -> Counter[int]:
    host, port_text = url.removeprefix("http://").split(":")
    request = _request(host, int(port_text))
    statuses = await asyncio.gather(
        *(_start_once(host, int(port_text), request) for _ in range(count))
    )
    return Counter(statuses)


def one_cap(config_dir: Path, cap: str, runs: int, batch: int, every: int) -> dict[str, Any]:
    extra = {} if cap == DEFAULT else {"LAMDIS_LOCAL_RUN_HISTORY": cap}
    proc, url = start_service(config_dir, None, **extra)
    samples: list[tuple[int, float, float]] = []
    statuses: Counter[int] = Counter()
    not_passed: set[str] = set()
    started = time.perf_counter()
    try:
        samples.append((0, *memory_mb(proc.pid)))
        finished = 0
        while finished < runs:
            n = min(batch, runs - finished)
            statuses += asyncio.run(send_batch(url, n))
            wait_idle(url, timeout=300)
            finished += n
            for status in ("failed", "partial", "stopped"):
                not_passed.update(r["id"] for r in list_runs(url, status))
            if finished % every == 0 or finished == runs:
                samples.append((finished, *memory_mb(proc.pid)))
                print(f"cap {cap}: {finished} runs, RSS {samples[-1][1]:.1f} MB", file=sys.stderr)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return {
        "samples": samples,
        "statuses": dict(statuses),
        "not_passed": len(not_passed),
        "wall_s": time.perf_counter() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=125, help="starts sent together")
    parser.add_argument("--sample-every", type=int, default=250, help="runs between samples")
    parser.add_argument(
        "--caps",
        default=f"{DEFAULT},200",
        help="comma-separated LAMDIS_LOCAL_RUN_HISTORY values; 'default' leaves it unset",
    )
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args()
    if args.sample_every % args.batch:
        parser.error("--sample-every must be a multiple of --batch")
    caps = [c.strip() for c in args.caps.split(",") if c.strip()]
    load_before = os.getloadavg()[0]
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="lamdis-soak-") as tmp, demo_assistant(0) as demo:
        config_dir = write_configs(Path(tmp) / "configs", demo, tests=1)
        for cap in caps:
            results[cap] = one_cap(config_dir, cap, args.runs, args.batch, args.sample_every)
    load_after = os.getloadavg()[0]
    label = {c: ("1000 (default)" if c == DEFAULT else c) for c in caps}
    points = [n for n, _, _ in results[caps[0]]["samples"]]
    lines = [
        "| runs finished | " + " | ".join(f"RSS, cap {label[c]}" for c in caps) + " |",
        "|---|" + "---|" * len(caps),
    ]
    for i, n in enumerate(points):
        cells = [f"{results[c]['samples'][i][1]:.1f} MB" for c in caps]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    lines.append(
        "| peak (VmHWM) | "
        + " | ".join(f"{results[c]['samples'][-1][2]:.1f} MB" for c in caps)
        + " |"
    )
    notes = []
    for c in caps:
        r = results[c]
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(r["statuses"].items()))
        notes.append(
            f"- cap {label[c]}: start answers {statuses}; runs seen failed/partial/stopped: "
            f"{r['not_passed']}; {r['wall_s']:.0f} s for {args.runs} runs."
        )
    table = "\n".join(lines) + "\n\n" + "\n".join(notes)
    print(table)
    if args.record:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        section = (
            f"\n### lamdis serve memory over {args.runs} runs, local store "
            f"(`bench/serve_memory.py`) — {stamp}\n\n"
            f"Machine: {machine()}; 1-minute load average before/after {load_before:.2f} / "
            f"{load_after:.2f}. `lamdis serve` in its own process, `DB_PROVIDER=local`, "
            "default `LAMDIS_MAX_RUNS=4`, offline judge; suite of 1 test x 2 turns, demo "
            "assistant at 0 ms in its own process; starts in batches of "
            f"{args.batch}, each waited for until no run is queued or running; `VmRSS` from "
            f"`/proc/<pid>/status` every {args.sample_every} runs, a fresh service per cap. "
            f"`python bench/serve_memory.py --runs {args.runs} --caps {args.caps} --record`."
            f"\n\n{table}\n"
        )
        record(section)


if __name__ == "__main__":
    main()
