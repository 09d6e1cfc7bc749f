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
"""Modules under ``lamdis_http.cli`` that add a command; each exposes ``register(subparsers)``."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every command in :data:`COMMAND_MODULES` registered."""
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
    for name in COMMAND_MODULES:
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


def _import_structlog_without_rich_tracebacks() -> None:
    """Import structlog so that it does not load rich's traceback and pretty-printer.

    When rich is installed, structlog imports ``rich.traceback`` and ``rich.pretty`` (and with
    them pygments) on import, to render exceptions; that alone is about a third of a short
    ``lamdis run``'s start-up (measured in bench/RESULTS.md). The CLI never renders rich
    tracebacks, so structlog is imported while those two modules read as absent; it then
    falls back to plain tracebacks. They are importable again afterwards for anyone else.
    """
    if "structlog" in sys.modules:
        return
    hidden = ("rich.traceback", "rich.pretty")
    if any(name in sys.modules for name in hidden):
        return
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
    from lamdis_core.sanitize import clean_log_event

    from lamdis_http.cli._serve import RepeatThrottle

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


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lamdis-http")
    except PackageNotFoundError:  # running from a source tree without metadata
        return "unknown"


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``lamdis`` script: parse, run the command, exit with its code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        print(f"lamdis {_version()}")
        sys.exit(0)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        sys.exit(2)
    if getattr(args, "logs", True):
        # Commands that log nothing (validate) skip structlog, and with it asyncio and
        # rich: a third of their start-up (bench/startup.py).
        _import_structlog_without_rich_tracebacks()
        configure_logging(args.verbose)
    try:
        code = int(args.handler(args))
    except KeyboardInterrupt:
        print("\nlamdis: interrupted", file=sys.stderr)
        code = 130
    sys.exit(code)
