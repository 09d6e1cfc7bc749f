"""``lamdis db migrate``: bring the PostgreSQL database at ``DATABASE_URL`` up to date."""

from __future__ import annotations

import argparse
from typing import Any

from lamdis_http.cli._common import EXIT_FAILED, EXIT_OK, EXIT_USAGE


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("db", help="database maintenance for the hosted mode")
    commands = parser.add_subparsers(dest="db_command", metavar="SUBCOMMAND", required=True)
    migrate = commands.add_parser(
        "migrate", help="apply PostgreSQL migrations to $DATABASE_URL (safe to repeat)"
    )
    migrate.add_argument("--database-url", default=None, help="default: $DATABASE_URL")
    migrate.set_defaults(handler=_handle_migrate)


def _handle_migrate(args: argparse.Namespace) -> int:
    import asyncio
    import os
    import sys

    from lamdis_http.registry import install_hint

    dsn = args.database_url or os.environ.get("DATABASE_URL", "").strip()
    if not dsn:
        print(
            "lamdis db migrate: set DATABASE_URL (postgresql://user:pass@host:5432/db)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        from lamdis_store_postgres import migrate
    except ImportError:
        print(
            "lamdis db migrate: the PostgreSQL store is not installed; "
            + install_hint("lamdis-store-postgres"),
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        applied = asyncio.run(migrate(dsn))
    except Exception as exc:
        print(f"lamdis db migrate: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if applied:
        print("applied: " + ", ".join(applied))
    else:
        print("database is up to date")
    return EXIT_OK
