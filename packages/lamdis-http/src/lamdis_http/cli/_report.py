"""``lamdis report SUMMARY.json --html FILE``: the HTML page of a saved run."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from lamdis_http.cli._common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "report",
        help="render a saved run's JSON summary as a self-contained HTML page",
        description="Render the JSON summary `lamdis run --json` wrote (or summary.json in its "
        "results folder) as one self-contained HTML page: inline CSS, no script, nothing "
        "fetched — the same page `lamdis run --html` writes. Exit 0 when written, 1 when it "
        "cannot be written, 2 for bad input (not a lamdis summary, or a newer one).",
    )
    parser.add_argument("summary", metavar="SUMMARY.json", help="the JSON summary of a run")
    parser.add_argument("--html", metavar="FILE", required=True, help="write the page to FILE")
    parser.add_argument(
        "--title", default="lamdis run", help="the page's heading (default: lamdis run)"
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lamdis_core.rejudge import SummaryFormatError, read_summary

    from lamdis_http.cli._rejudge import _read
    from lamdis_http.ui import render_report

    try:
        items, summary = read_summary(_read(args.summary, "the summary"), source=args.summary)
    except (UsageError, SummaryFormatError) as exc:
        print(f"lamdis report: {exc}", file=sys.stderr)
        return EXIT_USAGE
    page = render_report(summary, items, title=args.title)
    target = Path(args.html)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(page, encoding="utf-8")
    except OSError as exc:
        print(f"lamdis report: cannot write {target}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"report: {target} ({len(items)} items, status {summary.get('status')})")
    return EXIT_OK
