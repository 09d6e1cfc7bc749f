"""The diff of two big runs (the compare page's and ``GET /internal/runs/{id}/diff``'s CPU work
after the two reads), against another checkout's lamdis-core, round by round.

Builds two runs of ``--items`` (500) items the way ``bench/ui_pages.py`` stores them (3 turns,
2 checks, a judge score, 8% failing; every test's score differs, so every test's first
divergent turn is looked for, as with a real judge), then times ``diff_runs`` over them
``--diffs`` times in a fresh process per round. With ``--compare-pythonpath`` the rounds
alternate between this checkout and the given sources (``PYTHONPATH``, e.g. an older
checkout's ``packages/lamdis-core/src``), the order swapped every round, so both see the same
machine load.

Usage: ``python bench/diff_runs.py [--items 500] [--diffs 20] [--rounds 6]
[--compare-pythonpath DIRS --compare-label NAME] [--record]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from run import record

HERE = Path(__file__).resolve().parent


def child(items: int, diffs: int) -> None:
    """Time ``diffs`` diffs in this process and print the times (ms) as JSON."""
    sys.path.insert(0, str(HERE))
    from lamdis_core.diff import RunSide, diff_runs
    from lamdis_core.domain.results import ItemStatus
    from ui_pages import make_item

    def side(seed: int) -> RunSide:
        rng = random.Random(seed)
        statuses = [
            ItemStatus.FAILED if rng.random() < 0.08 else ItemStatus.PASSED for _ in range(items)
        ]
        return RunSide(
            label=str(seed), items=[make_item(rng, n, s) for n, s in enumerate(statuses)]
        )

    base, new = side(0), side(1)
    diff_runs(base, new)  # warm-up
    times = []
    for _ in range(diffs):
        started = time.perf_counter()
        diff_runs(base, new)
        times.append((time.perf_counter() - started) * 1000)
    print(json.dumps(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--diffs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--compare-pythonpath", default="")
    parser.add_argument("--compare-label", default="other sources")
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.items, args.diffs)
        return

    sys.path.insert(0, str(HERE))
    from run import machine
    from ui_pages import p95

    builds = [("this checkout", "")]
    if args.compare_pythonpath:
        builds.insert(0, (args.compare_label, args.compare_pythonpath))
    times: dict[str, list[float]] = {label: [] for label, _ in builds}
    load_before = os.getloadavg()[0]
    for round_no in range(args.rounds):
        order = builds if round_no % 2 == 0 else builds[::-1]
        for label, pythonpath in order:
            env = dict(os.environ)
            env.pop("PYTHONPATH", None)
            if pythonpath:
                env["PYTHONPATH"] = pythonpath
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    "--items",
                    str(args.items),
                    "--diffs",
                    str(args.diffs),
                ],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            times[label].extend(json.loads(out))
        print(f"  round {round_no + 1} of {args.rounds} done", flush=True)
    load_after = os.getloadavg()[0]

    lines = [
        f"### The diff of two runs of {args.items} items (`bench/diff_runs.py`) — "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {machine()}; 1-minute load average before/after {load_before:.2f} / "
        f"{load_after:.2f}. `python bench/diff_runs.py --items {args.items} --diffs "
        f"{args.diffs} --rounds {args.rounds}"
        f"{' --compare-pythonpath ...' if args.compare_pythonpath else ''}`: `diff_runs` "
        f"timed {args.diffs} times per round in a fresh process, builds alternated round by "
        "round.",
        "",
        "| build | diffs | p50 | p95 |",
        "|---|---|---|---|",
    ]
    for label, values in times.items():
        lines.append(
            f"| {label} | {len(values)} | {statistics.median(values):.1f} ms | "
            f"{p95(values):.1f} ms |"
        )
    text = "\n".join(lines) + "\n"
    print()
    print(text)
    if args.record:
        record("\n" + text)


if __name__ == "__main__":
    main()
