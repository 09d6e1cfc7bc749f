"""``lamdis validate``: check files and references without running anything."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from lamdis_http.cli._common import EXIT_OK, EXIT_USAGE, print_problems


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check test files, suites and their references without running anything",
        description="Load every file under PATH (test files, suites, assistants, personas, "
        "requests, auth) and resolve every reference. Exit 0 when all is well (warnings, "
        "such as an environment variable the shell lacks, are printed), 2 with every problem "
        "otherwise.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="file or folder to check")
    parser.add_argument("--config-root", metavar="DIR", help="also resolve references against DIR")
    # Loading files logs nothing: no logging set-up, so no structlog, asyncio or rich.
    parser.set_defaults(handler=handle, logs=False)


def handle(args: argparse.Namespace) -> int:
    from lamdis_core.config.loader import validate_paths
    from lamdis_core.domain.errors import ConfigError

    try:
        report = validate_paths(args.paths, config_root=args.config_root, env=dict(os.environ))
    except ConfigError as exc:
        print_problems("validation failed", exc.problems, warnings=exc.warnings)
        return EXIT_USAGE
    for warning in report.warnings:
        print(f"lamdis: warning: {warning}", file=sys.stderr)
    files = list(report.files)
    noun = "file" if len(files) == 1 else "files"
    extra = f", {len(report.warnings)} warning(s)" if report.warnings else ""
    print(f"ok: {len(files)} {noun} valid{extra}")
    return EXIT_OK
