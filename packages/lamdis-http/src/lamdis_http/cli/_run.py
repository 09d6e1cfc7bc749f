"""``lamdis run``: load test files, run them against the assistants, report, gate CI.

Also the code path of ``make demo`` (:mod:`lamdis_http.demo_run` calls :func:`execute`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from lamdis_http.cli._common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    EXIT_USAGE,
    UsageError,
    int_in_range,
    positive_int,
    print_problems,
)

if TYPE_CHECKING:
    from lamdis_core.domain.plan import RunPlan
    from lamdis_core.engine import RunResult
    from lamdis_core.engine.finished import FinishedItems
    from lamdis_core.reports import ReportFacts

DEFAULT_CONCURRENCY = 8
# The same bound as lamdis_core.config._schema.MAX_JUDGE_SAMPLES, not imported so that
# `lamdis --help` stays light.
MAX_JUDGE_SAMPLES = 25
DEFAULT_RESULTS_DIR = "lamdis-results"
CONCURRENCY_VAR = "LAMDIS_CONCURRENCY"
MAX_COST_VAR = "LAMDIS_MAX_COST_PER_RUN"
PRICES_VAR = "LAMDIS_PRICES"
# Finished runs are spilled to disk and the reports streamed from there, so memory does not
# grow with them; the disk (a few KiB each) and the time do: beyond these a typo such as
# --repeat 1000000 is refused up front.
MAX_REPEAT = 10_000
MAX_RUNS = 200_000

JSON_NAME = "summary.json"
JUNIT_NAME = "junit.xml"
MARKDOWN_NAME = "summary.md"


@dataclass
class RunOptions:
    """Everything ``lamdis run`` was asked to do, validated."""

    paths: list[str]
    config_root: str | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    json_path: str | None = None
    junit_path: str | None = None
    markdown_path: str | None = None
    html_path: str | None = None
    results_dir: str = DEFAULT_RESULTS_DIR
    name_filter: str | None = None
    tags: list[str] = field(default_factory=list)
    repeat: int = 1
    quiet: bool = False
    no_cache: bool = False
    title: str = "lamdis run"
    min_pass_rate: float = 1.0
    judge_samples: int = 1
    require_llm_judge: bool = False
    seed: int | None = None
    max_cost: float | None = None
    prices: str | None = None


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run test files, suite files or folders of them",
        description="Run lamdis-runs test files (JSON or YAML), suite files, or folders of "
        "them against the assistants they name, print a summary and write reports. "
        "Exit 0 when every test passed, 1 when any failed or errored, 2 for a configuration "
        "or usage error (nothing runs), 130 when interrupted (Ctrl-C), 143 when terminated "
        "(SIGTERM); an interrupted run still writes its reports for the tests that finished.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="test file, suite file or folder")
    parser.add_argument(
        "--config-root",
        metavar="DIR",
        help="also resolve references (assistantRef, imports, authRef) against DIR",
    )
    parser.add_argument(
        "--concurrency",
        metavar="N",
        help=f"tests run at once (env {CONCURRENCY_VAR}, default {DEFAULT_CONCURRENCY})",
    )
    parser.add_argument("--json", metavar="FILE", help="write the JSON summary to FILE")
    parser.add_argument("--junit", metavar="FILE", help="write JUnit XML to FILE")
    parser.add_argument("--markdown", metavar="FILE", help="write the Markdown summary to FILE")
    parser.add_argument(
        "--html",
        metavar="FILE",
        help="also write the run as one self-contained HTML page to FILE (transcripts as chat "
        "bubbles, every check beside its turn; nothing fetched, no script)",
    )
    parser.add_argument(
        "--results-dir",
        metavar="DIR",
        default=DEFAULT_RESULTS_DIR,
        help="where reports not given explicitly go, and the judge's response cache "
        f"(default {DEFAULT_RESULTS_DIR}/)",
    )
    parser.add_argument(
        "--filter",
        metavar="GLOB",
        help="only tests whose id or name matches GLOB (case-insensitive; plain text = substring)",
    )
    parser.add_argument(
        "--tag",
        metavar="TAG",
        action="append",
        default=[],
        help="only tests carrying TAG (repeatable: a test needs any of them)",
    )
    parser.add_argument(
        "--repeat",
        metavar="N",
        default="1",
        help=f"run each test N times (1 to {MAX_REPEAT:,}); reports pass rates",
    )
    parser.add_argument(
        "--min-pass-rate",
        metavar="R",
        help="the least share of a test's runs that must pass (0 to 1, default 1); a test's "
        "own minPassRate wins. A test with mixed outcomes is flaky and gated by its pass rate",
    )
    parser.add_argument(
        "--judge-samples",
        metavar="K",
        default="1",
        help=f"ask the judge K times per rubric check (1 to {MAX_JUDGE_SAMPLES}) and take the "
        "median score; a check's own samples wins",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress; list only tests that did not pass"
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="do not reuse cached LLM judge answers"
    )
    parser.add_argument(
        "--require-llm-judge",
        action="store_true",
        help="fail rubric checks the judge cannot assess (the offline judge skips them with "
        '"needs an LLM judge")',
    )
    parser.add_argument(
        "--seed",
        metavar="N",
        help="seed for the data generators in test variables (${uuid}, ${randInt(6)}...); "
        "the seed used is in every report, so a run can be repeated with the same data",
    )
    parser.add_argument(
        "--max-cost",
        metavar="USD",
        help=f"stop the run before its judge calls would cost more than USD (env {MAX_COST_VAR}); "
        "a stopped run is partial, keeps what finished and exits 1",
    )
    parser.add_argument(
        "--prices",
        metavar="FILE",
        help=f"price table (JSON or YAML) over the packaged one (env {PRICES_VAR})",
    )
    parser.set_defaults(handler=handle)


def max_cost(value: str | None, *, what: str) -> float | None:
    """A budget in USD (> 0), or :class:`UsageError` saying so."""
    if value is None or not value.strip():
        return None
    text = value.strip().removeprefix("$")
    try:
        number = float(text)
    except ValueError:
        raise UsageError(f"{what} must be an amount in USD such as 2.50, got {value!r}") from None
    if not number > 0 or number == float("inf"):
        raise UsageError(f"{what} must be a positive amount in USD, got {value!r}")
    return number


def options_from_args(args: argparse.Namespace, env: Mapping[str, str]) -> RunOptions:
    """Validate the parsed arguments.

    Raises:
        UsageError: a value is out of range.
    """
    raw_concurrency = args.concurrency or env.get(CONCURRENCY_VAR) or str(DEFAULT_CONCURRENCY)
    source = "--concurrency" if args.concurrency else CONCURRENCY_VAR
    return RunOptions(
        paths=list(args.paths),
        config_root=args.config_root,
        concurrency=positive_int(raw_concurrency, what=source),
        json_path=args.json,
        junit_path=args.junit,
        markdown_path=args.markdown,
        html_path=getattr(args, "html", None),
        results_dir=args.results_dir,
        name_filter=args.filter,
        tags=list(args.tag),
        repeat=int_in_range(args.repeat, what="--repeat", low=1, high=MAX_REPEAT),
        quiet=args.quiet,
        no_cache=args.no_cache,
        require_llm_judge=args.require_llm_judge,
        judge_samples=int_in_range(
            args.judge_samples, what="--judge-samples", low=1, high=MAX_JUDGE_SAMPLES
        ),
        min_pass_rate=1.0
        if args.min_pass_rate is None
        else fraction(args.min_pass_rate, what="--min-pass-rate"),
        seed=None
        if getattr(args, "seed", None) is None
        else int_in_range(args.seed, what="--seed", low=0, high=2**63 - 1),
        max_cost=max_cost(
            getattr(args, "max_cost", None) or env.get(MAX_COST_VAR),
            what="--max-cost" if getattr(args, "max_cost", None) else MAX_COST_VAR,
        ),
        prices=getattr(args, "prices", None) or env.get(PRICES_VAR) or None,
    )


def fraction(value: str, *, what: str) -> float:
    """A number in [0, 1] (``0.8``, or ``80%``), or :class:`UsageError` saying so."""
    text = value.strip()
    try:
        number = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise UsageError(f"{what} must be a number between 0 and 1, got {value!r}") from None
    if not 0.0 <= number <= 1.0:
        raise UsageError(f"{what} must be between 0 and 1 (a share of the runs), got {value!r}")
    return number


def handle(args: argparse.Namespace) -> int:
    try:
        options = options_from_args(args, os.environ)
    except UsageError as exc:
        print(f"lamdis run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return execute(options)


def execute(options: RunOptions, *, env: Mapping[str, str] | None = None) -> int:
    """Run what ``options`` say and return the exit code (0, 1, 2 or 130)."""
    import asyncio

    return asyncio.run(execute_async(options, dict(os.environ) if env is None else dict(env)))


def load(options: RunOptions, env: Mapping[str, str]) -> RunPlan | None:
    """Load the plan, printing every problem (and returning ``None``) when it cannot."""
    from lamdis_core.config.environment import missing_environment
    from lamdis_core.config.loader import load_plan
    from lamdis_core.domain.errors import ConfigError

    try:
        plan = load_plan(
            options.paths,
            config_root=options.config_root,
            env=env,
            name_filter=options.name_filter,
            tags=tuple(options.tags),
        )
    except ConfigError as exc:
        print_problems("configuration error, nothing was run", exc.problems, warnings=exc.warnings)
        return None
    # An unset ${VAR} only warns at load time; one this run reads stops it before any turn.
    missing = missing_environment(plan, env)
    if missing:
        names = {problem.variable for problem in missing}
        print_problems(
            "configuration error, nothing was run",
            missing,
            warnings=[w for w in plan.warnings if w.variable not in names],
        )
        return None
    for warning in plan.warnings:
        print(f"lamdis: warning: {warning}", file=sys.stderr)
    if not plan.entries and not plan.skipped:
        selection = []
        if options.name_filter:
            selection.append(f"--filter {options.name_filter!r}")
        selection.extend(f"--tag {t!r}" for t in options.tags)
        why = f" match {' and '.join(selection)}" if selection else " are enabled"
        print(
            f"lamdis: no tests to run: no tests in {', '.join(options.paths)}{why}",
            file=sys.stderr,
        )
        return None
    return plan


async def execute_async(options: RunOptions, env: dict[str, str]) -> int:
    """:func:`execute` inside a running event loop (``make demo`` serves the demo in it)."""
    import asyncio
    import signal

    import attrs
    from lamdis_core.domain.errors import AdapterNotInstalledError, ConfigError
    from lamdis_core.domain.results import RunStatus
    from lamdis_core.reports.json_report import config_hashes

    from lamdis_http import registry

    loaded = load(options, env)
    if loaded is None:
        return EXIT_USAGE
    # Disabled tests go to the engine too: it reports them as skipped without running them,
    # so the reports list every test the files hold.
    plan = attrs.evolve(loaded, entries=[*loaded.entries, *loaded.skipped], skipped=[])
    runs = len(plan.entries) * options.repeat
    if runs > MAX_RUNS:
        print(
            f"lamdis run: {len(plan.entries):,} tests x --repeat {options.repeat:,} = {runs:,} "
            f"runs; at most {MAX_RUNS:,} are allowed in one run (lower --repeat or select "
            "fewer tests with --filter/--tag)",
            file=sys.stderr,
        )
        return EXIT_USAGE

    judge = None
    try:
        judge = _make_judge(options, env)
        _price_judge(judge, options)
        channels = {entry.assistant.env.channel for entry in plan.entries}
        targets = registry.load_target_factories(env, channels=channels)
    except (ConfigError, AdapterNotInstalledError) as exc:
        if judge is not None:
            await _close(judge, {})
        if isinstance(exc, ConfigError):
            print_problems(
                "configuration error, nothing was run", exc.problems, warnings=exc.warnings
            )
        else:
            print(f"lamdis: {exc}", file=sys.stderr)
        return EXIT_USAGE

    from lamdis_core.engine.finished import SpilledItems
    from lamdis_core.reports import ReportFacts

    from lamdis_http.cli._console import Console

    console = Console(quiet=options.quiet, total=len(plan.entries) * options.repeat)
    console.announce_judge(judge.name, offline=judge.offline)
    tracing = start_tracing(env)
    # Finished items go to a file beside the reports (gone when the run ends) and every
    # report is written from there, so memory stays what a few hundred items need.
    with SpilledItems(directory=options.results_dir) as finished:
        try:
            result, interrupted = await _run_engine(
                options, env, plan, judge, targets, console, finished
            )
        finally:
            await _close(judge, targets)
            # Bounded: a collector that is down costs the run nothing; it is reported once.
            tracing_warning = await asyncio.to_thread(tracing.close) if tracing else None

        facts = result.facts or ReportFacts.of(result.items, result.gate)
        warnings = [str(w) for w in plan.warnings]
        try:
            written = write_reports(
                result,
                options,
                warnings=warnings,
                suite_id=plan.suite_id,
                env=env,
                config_hashes=config_hashes(plan.entries),
                facts=facts,
            )
        except OSError as exc:
            # The run happened, so this is not a usage error; but CI would miss the report,
            # so the run must not look green either.
            print(f"lamdis: cannot write a report: {exc}", file=sys.stderr)
            written, report_failed = [], True
        else:
            report_failed = False
        console.summary(result, interrupted=interrupted is not None, written=written, facts=facts)
    if tracing_warning:
        print(f"lamdis: warning: {tracing_warning}", file=sys.stderr)
    if interrupted is not None:
        return EXIT_TERMINATED if interrupted == signal.SIGTERM else EXIT_INTERRUPTED
    # The status is gated per test by pass rate: with one run each and no --min-pass-rate,
    # that is "anything failed or errored"; with --repeat a flaky test above its minimum passes.
    failed = result.status is RunStatus.FAILED or report_failed
    # A run the budget cut short did not test everything: CI must not see it green.
    return EXIT_FAILED if failed or result.stop_reason else EXIT_OK


def _price_judge(judge: Any, options: RunOptions) -> None:
    """Give an LLM judge the user's price table; with a budget, its model needs a price.

    Raises:
        ConfigError: the table is wrong, or ``--max-cost`` cannot be enforced.
    """
    if getattr(judge, "prices", None) is None:
        if options.max_cost is not None and not judge.offline:
            raise _budget_problem(f"judge {judge.name} reports no cost")
        return
    from lamdis_core.pricing import PriceTable

    judge.prices = PriceTable.load(options.prices)
    if options.max_cost is not None and judge.prices.lookup(judge.name) is None:
        raise _budget_problem(f"the price table has no price for {judge.name}")


def _budget_problem(why: str) -> Exception:
    from lamdis_core.domain.errors import ConfigError, ConfigProblem

    return ConfigError(
        [
            ConfigProblem(
                "--max-cost",
                f"{why}, so the budget cannot be enforced; add the model to a price table "
                "(--prices FILE)",
            )
        ]
    )


def _make_judge(options: RunOptions, env: Mapping[str, str]) -> Any:
    from lamdis_http import registry

    cache = None
    if not options.no_cache and registry.judge_provider(env) != "offline":
        from lamdis_core.llm import DiskResponseCache

        cache = DiskResponseCache(Path(options.results_dir) / "cache")
    return registry.load_judge(env, cache=cache)


def start_tracing(
    env: Mapping[str, str],
    *,
    warn: Callable[[str], None] | None = None,
    on_first_drop: Callable[[str], None] | None = None,
) -> Any:
    """The OTLP trace exporter when ``OTEL_*`` variables ask for it (docs/observability.md);
    ``None`` (and nothing imported) otherwise."""
    if not any(name.startswith("OTEL_") for name in env):
        return None
    from lamdis_http import telemetry

    return telemetry.start(
        env,
        warn=warn or (lambda m: print(f"lamdis: warning: {m}", file=sys.stderr)),
        on_first_drop=on_first_drop,
    )


async def _run_engine(
    options: RunOptions,
    env: Mapping[str, str],
    plan: RunPlan,
    judge: Any,
    targets: dict[str, Any],
    console: Any,
    finished: FinishedItems,
) -> tuple[RunResult, int | None]:
    """Run the engine; on Ctrl-C or SIGTERM cancel in-flight turns and keep what finished.

    Returns the result and the signal that stopped the run (``None`` when it completed).
    The first SIGINT or SIGTERM cancels the run (finished items are reported and written);
    a second one quits at once. SIGTERM is what CI cancellations, ``docker stop`` and
    Kubernetes send, so it must not lose the results either.
    """
    import asyncio
    import secrets
    import signal
    from datetime import UTC, datetime

    from lamdis_core.engine import Engine

    from lamdis_http.cli._collector import start_up_done
    from lamdis_http.requests import AiohttpRequester

    requester = AiohttpRequester()
    engine = Engine(
        targets=targets,
        judge=judge,
        requester=requester,
        env=env,
        require_llm_judge=options.require_llm_judge,
        judge_samples=options.judge_samples,
    )
    started_at = datetime.now(UTC)
    loop = asyncio.get_running_loop()
    start_up_done()
    # Picked here, not in the engine, so an interrupted run's reports carry it too.
    seed = options.seed if options.seed is not None else secrets.randbelow(2**31)
    task = asyncio.ensure_future(
        engine.run(
            plan,
            concurrency=options.concurrency,
            repeat=options.repeat,
            observer=console,
            min_pass_rate=options.min_pass_rate,
            seed=seed,
            max_cost=options.max_cost,
            finished=finished,
        )
    )
    received: list[int] = []

    def on_signal(signum: int) -> None:
        received.append(signum)
        if len(received) == 1:
            console.interrupted(terminated=signum == signal.SIGTERM)
            task.cancel()
        else:  # the user insists: no cleanup, no reports
            os._exit(EXIT_TERMINATED if signum == signal.SIGTERM else EXIT_INTERRUPTED)

    installed: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, on_signal, signum)
        except (NotImplementedError, RuntimeError):  # not the main thread, or no signals here
            continue
        installed.append(signum)
    try:
        with console.live():
            try:
                return await task, None
            except asyncio.CancelledError:
                if not received:
                    raise  # cancelled from outside, not by a signal
                partial = partial_result(finished.in_order(), judge, started_at)
                partial.seed = seed
                return partial, received[0]
    finally:
        for handled in installed:
            loop.remove_signal_handler(handled)
        await requester.aclose()


def partial_result(finished: Sequence[Any], judge: Any, started_at: Any) -> RunResult:
    """A stopped result from the items that finished before an interrupt (in plan order)."""
    from datetime import UTC, datetime

    from lamdis_core.domain.results import ScoreTally, Totals, Usage, run_status_for
    from lamdis_core.engine import RunResult

    totals, usage, scores = Totals(), Usage(), ScoreTally()
    for item in finished:
        totals.count(item.status)
        usage.add(item.usage)
        scores.add(item)
    return RunResult(
        items=finished,
        totals=totals,
        status=run_status_for(totals, stopped=True),
        judge=scores.summary(provider=judge.name, offline=judge.offline),
        usage=usage,
        started_at=started_at,
        finished_at=datetime.now(UTC),
        stopped=True,
    )


async def _close(judge: Any, targets: Mapping[str, Any]) -> None:
    from lamdis_core.logs import get_logger

    logger = get_logger()
    for closeable in (judge, *targets.values()):
        try:
            await closeable.aclose()
        except Exception as exc:  # closing must not hide the run's outcome
            logger.warning("close_failed", what=type(closeable).__name__, error=str(exc))


def write_html(
    out: TextIO,
    result: RunResult,
    *,
    title: str = "lamdis run",
    facts: ReportFacts | None = None,
    **summary: Any,
) -> None:
    """The HTML page of a run, written to ``out`` piece by piece.

    Made from the run as its JSON summary reads back (``summary``: :func:`build_summary`'s
    options), item by item as the page reaches them, so the page of a live run and the page
    ``lamdis report`` makes of its saved summary are the same page, and a ``--repeat`` run is
    never one page, one summary or one list of items in memory.
    """
    import json

    from lamdis_core.domain.convert import default_converter
    from lamdis_core.domain.results import Item
    from lamdis_core.reports import build_summary
    from lamdis_core.sanitize import clean

    from lamdis_http.ui import write_report

    converter = default_converter()

    def read_back(value: Any) -> Any:  # what a reader of the summary's text gets
        text = json.dumps(clean(value), ensure_ascii=False, allow_nan=False, default=str)
        return json.loads(text)

    class ItemsReadBack:
        # The page goes through the items twice (the table, then one section each).
        def __iter__(self) -> Iterator[Item]:
            for item in result.items:
                yield converter.structure(read_back(converter.unstructure(item)), Item)

    head = build_summary(result, include_items=False, facts=facts, **summary)
    write_report(out, read_back(head), ItemsReadBack(), title=title)


def write_reports(
    result: RunResult,
    options: RunOptions,
    *,
    warnings: Sequence[str] = (),
    suite_id: str | None = None,
    env: Mapping[str, str] | None = None,
    config_hashes: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    facts: ReportFacts | None = None,
) -> list[str]:
    """Write the JSON, JUnit and Markdown reports (and the HTML page when asked); append to
    ``GITHUB_STEP_SUMMARY``.

    A report given explicitly goes where it was asked; the others go in the results folder.
    Each is written as it is made (the JSON summary item by item, JUnit case by case) from
    ``facts``, gathered here when not given. Returns the paths written.
    """
    from lamdis_core.reports import ReportFacts, render_markdown, write_json, write_junit

    if facts is None:
        facts = ReportFacts.of(result.items, result.gate)
    results_dir = Path(options.results_dir)
    markdown = render_markdown(result, title=options.title, warnings=warnings, facts=facts)

    # What the JSON summary and the HTML report both state about the run.
    described: dict[str, Any] = {
        "files": options.paths,
        "warnings": warnings,
        "repeat": options.repeat,
        "suite_id": suite_id,
        "config_hashes": config_hashes,
        "extra": extra,
        "facts": facts,
    }

    def json_report(out: TextIO) -> None:
        # Streamed item by item: a large --repeat run is never one string in memory.
        write_json(out, result, **described)

    outputs: list[tuple[str | None, str, Callable[[TextIO], Any]]] = [
        (options.json_path, JSON_NAME, json_report),
        (
            options.junit_path,
            JUNIT_NAME,
            lambda out: write_junit(out, result, warnings=warnings, facts=facts),
        ),
        (options.markdown_path, MARKDOWN_NAME, lambda out: out.write(markdown)),
    ]
    if options.html_path:
        outputs.append(
            (
                options.html_path,
                "",
                lambda out: write_html(out, result, title=options.title, **described),
            )
        )
    written: list[str] = []
    for explicit, default_name, write in outputs:
        path = Path(explicit) if explicit else results_dir / default_name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as out:
            write(out)
        written.append(str(path))
    step_summary = (env if env is not None else os.environ).get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as handle:
            handle.write(markdown + "\n")
        written.append(step_summary)
    return written
