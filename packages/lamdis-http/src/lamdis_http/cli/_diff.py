"""``lamdis diff BASE.json NEW.json``: what got worse (or better) since a baseline run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from lamdis_http.cli._common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "diff",
        help="compare two runs' JSON summaries: new failures, score drops, slower answers",
        description="Compare a run with a baseline run (both JSON summaries of lamdis run): "
        "tests newly failing or passing, judge score drops beyond a margin, p95 latency "
        "regressions beyond a margin, and for each changed test the first turn where the "
        "conversation diverged. Exit 0, or 1 with --fail-on-regression when something got "
        "worse; 2 for bad input.",
    )
    parser.add_argument("base", metavar="BASE.json", help="the baseline run's summary")
    parser.add_argument("new", metavar="NEW.json", help="the run to compare with it")
    parser.add_argument("--markdown", metavar="FILE", help="also write the diff as Markdown")
    parser.add_argument("--json", metavar="FILE", help="also write the diff as JSON")
    parser.add_argument(
        "--fail-on-regression",
        action="store_true",
        help="exit 1 when a test newly fails, a score drops or a latency regresses",
    )
    parser.add_argument(
        "--score-margin",
        metavar="M",
        default="0.1",
        help="judge score drops larger than M count (0 to 1, default 0.1)",
    )
    parser.add_argument(
        "--latency-margin",
        metavar="F",
        default="0.2",
        help="p95 latency growth beyond this fraction counts (default 0.2, i.e. 20%%)",
    )
    parser.set_defaults(handler=handle)


def _margin(value: str, *, what: str, high: float | None) -> float:
    text = value.strip()
    try:
        number = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise UsageError(f"{what} must be a number, got {value!r}") from None
    if number < 0 or (high is not None and number > high):
        bound = f"between 0 and {high:g}" if high is not None else "at least 0"
        raise UsageError(f"{what} must be {bound}, got {value!r}")
    return number


def handle(args: argparse.Namespace) -> int:
    try:
        return diff_command(args)
    except UsageError as exc:
        print(f"lamdis diff: {exc}", file=sys.stderr)
        return EXIT_USAGE


def diff_command(args: argparse.Namespace) -> int:
    import json

    from lamdis_core.diff import (
        RunSide,
        diff_runs,
        diff_to_json,
        render_diff_markdown,
        render_diff_text,
    )
    from lamdis_core.rejudge import SummaryFormatError, read_summary

    from lamdis_http.cli._rejudge import _gate, _read

    score_margin = _margin(args.score_margin, what="--score-margin", high=1.0)
    latency_margin = _margin(args.latency_margin, what="--latency-margin", high=None)
    sides = []
    for path in (args.base, args.new):
        try:
            items, summary = read_summary(_read(path, "the summary"), source=path)
        except SummaryFormatError as exc:
            raise UsageError(str(exc)) from None
        sides.append(
            RunSide(
                label=path,
                items=items,
                suite_id=summary.get("suiteId"),
                status=summary.get("status"),
                gate=_gate(summary.get("gate")),
            )
        )
    diff = diff_runs(sides[0], sides[1], score_margin=score_margin, latency_margin=latency_margin)
    print(render_diff_text(diff), end="")
    try:
        if args.markdown:
            Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
            Path(args.markdown).write_text(render_diff_markdown(diff), encoding="utf-8")
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(
                json.dumps(diff_to_json(diff), indent=2, ensure_ascii=False) + "\n",
                encoding="utf-8",
            )
    except OSError as exc:
        print(f"lamdis diff: cannot write the diff: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if args.fail_on_regression and diff.regressions:
        return EXIT_FAILED
    return EXIT_OK
