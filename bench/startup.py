"""Start-up of the ``lamdis`` command (issue 15): whole-process wall time of ``lamdis --help``,
``lamdis validate examples/configs`` and a one-test ``lamdis run`` (1 test, 1 turn, the demo
assistant at 0 ms in its own process, offline judge), and where the import time goes.

The machine is shared with other developers, so each figure is the *best* of ``--rounds``
runs (after one warm-up): the least the command needs when the machine lets it run, which is
what a change to lamdis' imports moves; the median of the same runs is shown beside it. ``--importtime`` also prints the largest cumulative
``python -X importtime`` entries of each command.

``--baseline PYTHON`` times another build's interpreter (e.g. an older checkout's
``.venv/bin/python``) in the same rounds, alternating with this one, so that both see the
same load: the before/after comparison.

Usage: ``python bench/startup.py [--rounds N] [--importtime] [--baseline PYTHON]
[--record LABEL]`` (``--record`` appends the figures to bench/RESULTS.md under LABEL, with the
machine, load and date).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import LAMDIS, bench_env, demo_assistant, machine, write_tree

REPO = Path(__file__).resolve().parents[1]
TARGETS = {"lamdis --help": 0.1, "lamdis validate examples/configs": 0.2, "1-test run": 0.35}


def best_of(
    builds: list[list[str]], args: list[str], env: dict[str, str], cwd: Path, rounds: int
) -> list[tuple[float, float, float, float]]:
    """The best wall time of ``args`` per build (``[python, "-m", ...]`` prefixes), the
    builds alternating round by round; the first round of each is a warm-up."""
    samples: list[list[tuple[float, float]]] = [[] for _ in builds]
    for _ in range(rounds + 1):
        for index, build in enumerate(builds):
            started = time.perf_counter()
            proc = subprocess.Popen(
                [*build, *args],
                env=env,
                cwd=cwd,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - started
            code = os.waitstatus_to_exitcode(status)
            if code not in (0, 1):
                raise RuntimeError(f"{[*build, *args]} exited {code}")
            samples[index].append((wall, usage.ru_utime + usage.ru_stime))
    # Best wall and best CPU (user + system) of the measured rounds: CPU time is what the
    # other developers' load disturbs least. Then the medians.
    return [
        (
            min(w for w, _ in s[1:]),
            min(c for _, c in s[1:]),
            statistics.median(w for w, _ in s[1:]),
            statistics.median(c for _, c in s[1:]),
        )
        for s in samples
    ]


def importtime(args: list[str], env: dict[str, str], cwd: Path, top: int = 12) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *LAMDIS[1:], *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, _self, cumulative, name = (
            p.strip() for p in line.replace("import time:", "|").split("|")
        )
        if not line.split("|")[2].startswith("  "):  # top-level imports only
            rows.append((int(cumulative), name))
    rows.sort(reverse=True)
    return [f"{name} {us / 1000:.0f} ms" for us, name in rows[:top]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--importtime", action="store_true")
    parser.add_argument("--record", metavar="LABEL")
    parser.add_argument("--baseline", metavar="PYTHON", help="another build's interpreter")
    opts = parser.parse_args()
    env = bench_env()
    load_before = os.getloadavg()[0]
    builds = [LAMDIS]
    if opts.baseline:
        builds.append([opts.baseline, *LAMDIS[1:]])
    figures: dict[str, list[tuple[float, float, float, float]]] = {}
    commands = {
        "lamdis --help": ["--help"],
        "lamdis validate examples/configs": ["validate", "examples/configs"],
    }
    for name, args in commands.items():
        figures[name] = best_of(builds, args, env, REPO, opts.rounds)
    with tempfile.TemporaryDirectory() as tmp, demo_assistant(0) as url:
        work = Path(tmp)
        file = write_tree(work / "tree", tests=1, turns=1)
        run_args = ["run", str(file), "--quiet", "--results-dir", str(work / "out")]
        run_env = {**env, "LAMDIS_DEMO_URL": url}
        figures["1-test run"] = best_of(builds, run_args, run_env, work, opts.rounds)
        commands["1-test run"] = run_args
        if opts.importtime:
            for name, args in commands.items():
                where = work if name == "1-test run" else REPO
                print(f"# {name}: largest top-level imports")
                for row in importtime(args, run_env, where):
                    print(f"  {row}")
    load_after = os.getloadavg()[0]
    head = f"| command | wall / CPU, best of {opts.rounds} (median) | target (wall) |"
    rule = "|---|---|---|"
    if opts.baseline:
        head = (
            "| command | baseline wall / CPU, best (median) | this build wall / CPU, best (median) "
            "| target (wall) |"
        )
        rule = "|---|---|---|---|"
    lines = [
        head,
        rule,
        *(
            f"| {n} | "
            + " | ".join(
                f"{w:.3f} s / {c:.3f} s ({mw:.3f} s / {mc:.3f} s)" for w, c, mw, mc in reversed(s)
            )
            + f" | < {TARGETS[n]} s |"
            for n, s in figures.items()
        ),
    ]
    print("\n".join(lines))
    if opts.record:
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        text = (
            f"\n### Start-up (`bench/startup.py`), {opts.record} — {when}\n\n"
            f"Machine: {machine()}; 1-minute load average before/after "
            f"{load_before:.2f} / {load_after:.2f} (shared with other developers, hence the best "
            f"of {opts.rounds} runs after a warm-up, with their median in brackets). "
            f"`python bench/startup.py --rounds {opts.rounds} --record ...`.\n\n"
            + "\n".join(lines)
            + "\n"
        )
        with (REPO / "bench" / "RESULTS.md").open("a", encoding="utf-8") as out:
            out.write(text)


if __name__ == "__main__":
    main()
