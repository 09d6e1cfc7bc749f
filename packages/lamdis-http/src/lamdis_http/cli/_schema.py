"""``lamdis schema --out DIR``: JSON Schemas of every config file kind, for editors."""

from __future__ import annotations

import argparse
from typing import Any

from lamdis_http.cli._common import EXIT_OK, EXIT_USAGE


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "schema",
        help="write JSON Schemas of every config file kind (for editor completion and checks)",
        description="Write one JSON Schema (draft 2020-12) per config file kind into DIR: "
        "assistant, auth, test, suite, personas and requests. They are generated from the "
        "model the loader checks against. Point an editor at them with "
        '`# yaml-language-server: $schema=PATH` in YAML files or a "$schema" key in JSON.',
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="folder to write into")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from lamdis_core.config.json_schema import write_schemas

    try:
        written = write_schemas(Path(args.out))
    except OSError as exc:
        print(f"lamdis schema: cannot write to {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    for path in written:
        print(path)
    return EXIT_OK
