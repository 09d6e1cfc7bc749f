"""``lamdis import DIR --org ORG``: load a config tree into the hosted catalog, idempotently.

The store comes from the environment (``DB_PROVIDER``, ``MONGO_URL``, ``DATABASE_URL``), as for
``lamdis serve``. Suites can then be started by id; a suite's assistants become its
environments, used when a start request gives no ``envId``. Running it again replaces the
documents with the files' current content.
"""

from __future__ import annotations

import argparse
from typing import Any

from lamdis_http.cli._common import EXIT_FAILED, EXIT_OK, EXIT_USAGE


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "import",
        help="load a config tree (suites, tests, assistants, personas, requests) into the catalog",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "dir", metavar="DIR", help="the config root (holds suites/, tests/, assistants/...)"
    )
    parser.add_argument("--org", required=True, help="the organization id to import into")
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    import asyncio

    return asyncio.run(_import(args))


async def _import(args: argparse.Namespace) -> int:
    import os
    import sys
    from pathlib import Path

    from lamdis_core.domain.errors import ConfigError, LamdisError
    from lamdis_core.service import import_config_tree

    from lamdis_http import registry
    from lamdis_http.cli._common import print_problems

    env = dict(os.environ)
    if registry.db_provider(env) == "local":
        print(
            "lamdis import: no database configured (DB_PROVIDER is local or unset); the local "
            "store lives inside `lamdis serve`, which reads LAMDIS_CONFIG_DIR itself. Set "
            "MONGO_URL or DATABASE_URL to import into a shared catalog.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        store, catalog = await registry.open_store(env)
    except LamdisError as exc:
        print(f"lamdis import: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        print(f"lamdis import: cannot open the store: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        counts = await import_config_tree(catalog, Path(args.dir), org_id=args.org, env=env)
    except ConfigError as exc:
        print_problems(f"cannot import {args.dir}", exc.problems, warnings=exc.warnings)
        return EXIT_USAGE
    finally:
        await store.aclose()
    summary = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n)
    print(f"imported into org {args.org!r}: {summary or 'nothing'}")
    return EXIT_OK
