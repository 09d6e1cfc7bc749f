"""``python -m lamdis_http.demo_run``: what ``make demo`` runs.

Starts the bundled demo assistant on a free loopback port, points the examples at it
(``LAMDIS_DEMO_URL``), runs the example suite with the offline judge through the same code as
``lamdis run``, prints the report, stops the assistant and exits with the run's exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from lamdis_http.cli import configure_logging
from lamdis_http.cli._common import EXIT_USAGE
from lamdis_http.cli._run import RunOptions, execute_async
from lamdis_http.demo import start_demo_server

SUITE_CANDIDATES = ("suites/demo.json", "suites/demo.yaml", "suites/demo.yml")


def find_examples(start: Path | None = None) -> Path | None:
    """The ``examples/configs`` folder: under the working directory or one of its parents,
    else beside this source tree (a checkout installed in development mode)."""
    bases = [start or Path.cwd()]
    bases += list(bases[0].parents)
    bases += list(Path(__file__).resolve().parents)
    for base in bases:
        candidate = base / "examples" / "configs"
        if candidate.is_dir():
            return candidate
    return None


def find_suite(configs: Path) -> Path | None:
    """The demo suite: ``suites/demo.*``, else the only suite in ``suites/``."""
    for name in SUITE_CANDIDATES:
        if (configs / name).is_file():
            return configs / name
    suites = sorted(
        p for p in (configs / "suites").glob("*") if p.suffix in (".json", ".yaml", ".yml")
    )
    return suites[0] if len(suites) == 1 else None


async def run_demo(suite: Path, configs: Path, *, latency_ms: float, results_dir: str) -> int:
    runner, url = await start_demo_server("127.0.0.1", 0, latency_ms)
    print(f"lamdis demo: demo assistant listening on {url}", flush=True)
    env = dict(os.environ)
    env["LAMDIS_DEMO_URL"] = url
    # The demo shows the offline judge whatever the shell has configured: it must run
    # anywhere without keys or network.
    env["JUDGE_PROVIDER"] = "offline"
    os.environ["LAMDIS_DEMO_URL"] = url
    options = RunOptions(
        paths=[str(suite)],
        config_root=str(configs),
        results_dir=results_dir,
        title="lamdis demo",
    )
    try:
        return await execute_async(options, env)
    finally:
        await runner.cleanup()
        print("lamdis demo: demo assistant stopped", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lamdis_http.demo_run", description=__doc__)
    parser.add_argument("--suite", help="suite or test file to run (default: the example suite)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="demo reply latency")
    parser.add_argument("--results-dir", default="lamdis-results", help="where reports go")
    args = parser.parse_args(argv)
    configure_logging()
    configs = find_examples()
    if configs is None:
        print("lamdis demo: cannot find examples/configs; run from the repository", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    suite = Path(args.suite) if args.suite else find_suite(configs)
    if suite is None:
        print(f"lamdis demo: no demo suite in {configs / 'suites'}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    try:
        code = asyncio.run(
            run_demo(suite, configs, latency_ms=args.latency_ms, results_dir=args.results_dir)
        )
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
