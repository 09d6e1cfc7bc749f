"""The ``lamdis`` command line.

Each command lives in its own private module (``_run``, ``_validate``...) exposing
``register(subparsers)``; the module is imported to build the parser, so it must import
nothing heavy at module level (``lamdis --help`` stays fast). Heavy imports happen inside the
command's handler, which returns the process exit code.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

COMMAND_MODULES: list[str] = [
    "_run",
    "_validate",
    "_demo_assistant",
    "_serve",
    "_wait",
    "_runs",
    "_import",
    "_db",
    "_schema",
    "_init",
    "_start",
    "_rejudge",
    "_diff",
    "_report",
]
"""Modules under ``lamdis_http.cli`` that add a command; each exposes ``register(subparsers)``.
A command's module is named after it: ``demo-assistant`` is ``_demo_assistant``."""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser with every command in :data:`COMMAND_MODULES` registered; or, given
    the ``command`` about to run, with that one only: importing and registering all fourteen
    was a tenth of a short ``lamdis run``'s start-up."""
    parser = argparse.ArgumentParser(
        prog="lamdis",
        description="Test conversational AI assistants: run lamdis-runs test files locally or in CI.",
        epilog="Exit codes: 0 all passed, 1 a test failed or errored, 2 configuration or usage "
        "error (nothing ran), 130 interrupted, 143 terminated (SIGTERM).",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log more to stderr (-v info, -vv debug); LAMDIS_LOG_LEVEL sets it too",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    only = f"_{command.replace('-', '_')}" if command else None
    for name in [only] if only in COMMAND_MODULES else COMMAND_MODULES:
        qualified = f"{__name__}.{name}"
        try:
            module = importlib.import_module(qualified)
        except ModuleNotFoundError as exc:
            if exc.name != qualified:
                raise
            # One command missing from a broken install must not take the others down.
            print(f"lamdis: command module {qualified} is missing; skipping it", file=sys.stderr)
            continue
        module.register(subparsers)
    return parser


def _import_structlog_without_rich() -> None:
    """Import structlog so that it does not load rich (nor, through it, pygments).

    When rich is installed, structlog imports ``rich.console``, ``rich.traceback`` and
    ``rich.pretty`` on import, to render exceptions: 20-60 ms of a short ``lamdis run``'s
    start-up (measured in bench/RESULTS.md). The CLI never renders rich tracebacks, so
    structlog is imported while rich reads as absent; it then falls back to plain tracebacks.
    rich is importable again afterwards for anyone else (the run's console uses it).
    """
    if "structlog" in sys.modules:
        return
    hidden = [name for name in ("rich", "rich.traceback", "rich.pretty") if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # makes the import fail
    try:
        import structlog  # noqa: F401
    finally:
        for name in hidden:
            sys.modules.pop(name, None)


def configure_logging(verbosity: int = 0) -> None:
    """Send structlog output to stderr at the level asked for (warnings by default).

    Only the CLI and ``lamdis serve`` configure logging; libraries just log.
    """
    import logging

    import structlog
    from lamdis_core.logs import configure_on_first_use
    from lamdis_core.sanitize import clean_log_event

    from lamdis_http.cli._serve import RepeatThrottle

    configure_on_first_use(None)  # set up now: drop the one a command may have deferred

    names = {0: "WARNING", 1: "INFO"}
    level_name = os.environ.get("LAMDIS_LOG_LEVEL", "").upper() or names.get(verbosity, "DEBUG")
    level = logging.getLevelNamesMapping().get(level_name, logging.WARNING)
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            RepeatThrottle(),
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            clean_log_event,
            structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


def _configure_cli_logging(verbosity: int) -> None:
    _import_structlog_without_rich()
    configure_logging(verbosity)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lamdis-http")
    except PackageNotFoundError:  # running from a source tree without metadata
        return "unknown"


def _command_in(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names: its first word that is not a top-level option (none of
    which takes a value); ``None`` when there is none or help is asked before it."""
    for word in argv:
        if word in ("-h", "--help", "--"):
            return None
        if not word.startswith("-"):
            return word
    return None


def main(argv: Sequence[str] | None = None) -> None:
    """Parse, run the command, exit with its code (``SystemExit``)."""
    words = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_command_in(words))
    args = parser.parse_args(words)
    if args.version:
        print(f"lamdis {_version()}")
        sys.exit(0)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        sys.exit(2)
    if getattr(args, "logs", True):
        # Commands that log nothing (validate) skip structlog, and with it asyncio and
        # rich: a third of their start-up (bench/startup.py). The others set it up when
        # they first log, which a passing run never does: a tenth of its start-up.
        from lamdis_core.logs import configure_on_first_use

        verbosity = args.verbose
        configure_on_first_use(lambda: _configure_cli_logging(verbosity))
    try:
        code = int(args.handler(args))
    except KeyboardInterrupt:
        print("\nlamdis: interrupted", file=sys.stderr)
        code = 130
    sys.exit(code)


def program() -> NoReturn:
    """The ``lamdis`` program (console script and ``python -m lamdis_http.cli``): :func:`main`
    with the process-wide choices an embedder calling ``main`` should not get.

    aiohttp's CA bundle is read when a command first opens an HTTPS connection, if it ever
    does (:mod:`lamdis_http._tls`). And the process ends without tearing the interpreter
    down: once the command is done, its output flushed and the ``atexit`` functions run
    (log handlers, exporters), freeing every module and object one by one only costs time —
    60-120 ms of CPU here, a sixth of a one-test ``lamdis run`` (bench/RESULTS.md).

    ``lamdis run`` also starts with Python's cyclic garbage collector paused until its tests
    start (:mod:`lamdis_http.cli._collector`): importing and loading allocate tens of
    thousands of objects that all stay, and collecting while they pile up cost 15-25 ms of a
    one-test run's CPU.
    """
    from lamdis_http._deferred_ca import defer_aiohttp_ca_loading

    defer_aiohttp_ca_loading()
    if _command_in(sys.argv[1:]) == "run":
        from lamdis_http.cli._collector import pause_collector

        pause_collector()
    try:
        main()
    except SystemExit as exc:
        code = exc.code
        if code is not None and not isinstance(code, int):
            raise  # a message to print: Python's own exit does that
        _leave(code or 0)
    raise AssertionError("main() returned without exiting")  # pragma: no cover


def _leave(code: int) -> NoReturn:
    """Exit with ``code`` at once, or through Python's shutdown when it still has work to do:
    another thread to wait for, or a tracer or profiler (coverage, cProfile) that writes its
    data at exit."""
    threading = sys.modules.get("threading")
    if (
        (threading is not None and threading.active_count() > 1)
        or sys.gettrace()
        or sys.getprofile()
    ):
        sys.exit(code)
    import atexit

    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(code)  # a closed pipe: Python's own exit reports it as it always did
    os._exit(code)
