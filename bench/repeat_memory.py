"""Peak memory of ``lamdis run --repeat N`` (issue 16 item 4, issue 13 "Performance").

W2's shape (200 tests x 3 user turns, demo assistant at 0 ms in its own process,
``--concurrency 20``), run whole-process at ``--repeat 1`` and ``--repeat 20`` (and any
others asked for). Peak RSS and CPU come from ``wait4`` on the ``lamdis run`` process alone.

The engine schedules lazily (``concurrency`` workers drawing from one generator), so the
scheduling itself costs the same at any repeat count. What still grows with ``--repeat`` is
what the run produces: every finished run (transcript, checks, timings) is kept for the
reports, and the reports are rendered in memory. The benchmark reports both the peak and
the growth per finished run, so the two are not confused.

Usage: ``python bench/repeat_memory.py [--repeats 1 20] [--rounds 3] [--record]
[--baseline PYTHON]``. With ``--baseline`` (the interpreter of another checkout's
environment, such as ``../main/.venv/bin/python``) every figure is measured for that build
too, alternating run by run with this one, so both see the same machine load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import LAMDIS, bench_env, demo_assistant, machine, record, run_process, write_tree

HERE = Path(__file__).resolve().parent
TESTS = 200


def measure(
    file: Path, url: str, repeat: int, rounds: int, work: Path, builds: dict[str, list[str]]
) -> dict[str, dict[str, float]]:
    """Median figures per build, the builds taking turns run by run."""
    env = bench_env(LAMDIS_DEMO_URL=url, JUDGE_PROVIDER="offline")
    samples: dict[str, list[tuple[float, float, int, float]]] = {name: [] for name in builds}
    for round_ in range(rounds + 1):
        for name, lamdis in builds.items():
            results = work / f"results-{name}-{repeat}"
            args = [*lamdis, "run", str(file), "--concurrency", "20", "--quiet"]
            args += ["--repeat", str(repeat), "--results-dir", str(results)]
            sample = run_process(args, env, work)
            if round_:  # the first round warms up
                samples[name].append(sample)
    figures: dict[str, dict[str, float]] = {}
    for name, runs in samples.items():
        if {s[2] for s in runs} != {0}:
            raise RuntimeError(f"{name} --repeat {repeat} did not pass: {[s[2] for s in runs]}")
        report = work / f"results-{name}-{repeat}" / "summary.json"
        figures[name] = {
            "wall": statistics.median(s[0] for s in runs),
            "rss": statistics.median(s[1] for s in runs),
            "cpu": statistics.median(s[3] for s in runs),
            "json_mib": report.stat().st_size / 2**20,
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, nargs="+", default=[1, 20])
    parser.add_argument("--rounds", type=int, default=3, help="measured runs per figure (median)")
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    parser.add_argument(
        "--baseline",
        metavar="PYTHON",
        help="also measure the lamdis installed for PYTHON (another checkout's .venv/bin/python)",
    )
    args = parser.parse_args()
    builds = {"this": LAMDIS}
    if args.baseline:
        builds = {"baseline": [args.baseline, "-m", "lamdis_http.cli"], **builds}
    load_before = os.getloadavg()[0]
    results: dict[int, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="lamdis-bench-") as tmp:
        work = Path(tmp)
        w2 = write_tree(work / "w2", TESTS)
        with demo_assistant(0) as url:
            for repeat in args.repeats:
                results[repeat] = measure(w2, url, repeat, args.rounds, work, builds)
                print(f"--repeat {repeat}: {results[repeat]}", file=sys.stderr)
    load_after = os.getloadavg()[0]
    least = min(results)
    lines = [
        f"| build | --repeat | runs | turns | peak RSS | vs --repeat {least} | per extra run "
        "| wall | CPU | summary.json |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in builds:
        base = results[least][name]
        for repeat in sorted(results):
            r = results[repeat][name]
            runs = TESTS * repeat
            extra = runs - TESTS * least
            per_run = f"{(r['rss'] - base['rss']) * 1024 / extra:.1f} KiB" if extra else ""
            lines.append(
                f"| {name} | {repeat} | {runs:,} | {runs * 3:,} | {r['rss']:.1f} MiB | "
                f"{r['rss'] / base['rss']:.2f} x | {per_run} | {r['wall']:.2f} s | "
                f"{r['cpu']:.2f} s | {r['json_mib']:.1f} MiB |"
            )
    table = "\n".join(lines)
    print(table)
    if args.record:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        command = f"--repeats {' '.join(map(str, args.repeats))} --rounds {args.rounds}"
        if args.baseline:
            command += " --baseline PYTHON"
        section = (
            f"\n### `lamdis run --repeat`, peak memory (`bench/repeat_memory.py`) — {stamp}\n\n"
            f"Machine: {machine()}; 1-minute load average before/after {load_before:.2f} / "
            f"{load_after:.2f}. W2's shape ({TESTS} tests x 3 turns, demo assistant at 0 ms in "
            f"its own process, `--concurrency 20`, offline judge), whole `lamdis run` process, "
            f"median of {args.rounds} after a warm-up"
            + (", the builds alternating run by run" if args.baseline else "")
            + f". `python bench/repeat_memory.py {command} --record`.\n\n{table}\n"
        )
        record(section)


if __name__ == "__main__":
    main()
