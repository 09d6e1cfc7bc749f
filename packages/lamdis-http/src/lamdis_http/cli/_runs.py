"""``lamdis runs list`` and ``lamdis runs show RUN_ID``: read run history.

From the hosted API (``--server`` / ``LAMDIS_SERVER``), else from the database named by
``MONGO_URL`` / ``DATABASE_URL``, exactly as ``lamdis wait`` does (:mod:`._source`).
"""

from __future__ import annotations

import argparse
from typing import Any

from lamdis_http.cli._common import EXIT_FAILED, EXIT_OK, EXIT_USAGE

STATUSES = ("queued", "running", "passed", "failed", "partial", "stopped")
TRIGGERS = ("manual", "schedule", "ci")
"""RunStatus and Trigger values, spelled out: importing the domain model would slow down
every ``lamdis --help`` (a test keeps them equal)."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("runs", help="list or show runs of a hosted lamdis service")
    commands = parser.add_subparsers(dest="runs_command", metavar="SUBCOMMAND", required=True)
    listing = commands.add_parser(
        "list",
        help="runs, newest first, filtered and paged",
        description="Runs, newest first, without items. The filters combine. A page ends with "
        "the --before value of the next (older) page; --json prints it as nextCursor, and "
        "prevCursor for --after (the newer page).",
    )
    listing.add_argument("--org", help="only this organization")
    listing.add_argument("--suite", help="only this suite")
    listing.add_argument("--env", help="only runs against this environment")
    listing.add_argument("--status", choices=STATUSES, help="only runs with this status")
    listing.add_argument("--trigger", choices=TRIGGERS, help="only runs started this way")
    listing.add_argument("--branch", help="only runs of this git branch (gitContext.branch)")
    listing.add_argument(
        "--commit", metavar="SHA", help="only runs of a commit starting with these hex digits"
    )
    listing.add_argument(
        "--from", dest="created_from", metavar="YYYY-MM-DD", help="created on or after (UTC day)"
    )
    listing.add_argument(
        "--to", dest="created_to", metavar="YYYY-MM-DD", help="created on or before (UTC day)"
    )
    page = listing.add_mutually_exclusive_group()
    page.add_argument(
        "--before", metavar="CURSOR", help="the page older than this (a nextCursor printed before)"
    )
    page.add_argument(
        "--after", metavar="CURSOR", help="the page newer than this (a prevCursor printed before)"
    )
    listing.add_argument(
        "--limit", type=int, default=20, help="at most this many (1-200, default 20)"
    )
    show = commands.add_parser("show", help="one run with its items")
    show.add_argument("run_id", metavar="RUN_ID")
    for sub in (listing, show):
        sub.add_argument(
            "--server",
            default=None,
            help="default: $LAMDIS_SERVER, else the database of $MONGO_URL/$DATABASE_URL, "
            "else http://127.0.0.1:3101",
        )
        sub.add_argument(
            "--json", action="store_true", help="print the API's JSON instead of a table"
        )
    listing.set_defaults(handler=_handle_list)
    show.set_defaults(handler=_handle_show)


def _handle_list(args: argparse.Namespace) -> int:
    import asyncio

    params = {"limit": str(args.limit)}
    for key, value in (
        ("orgId", args.org),
        ("suiteId", args.suite),
        ("envId", args.env),
        ("status", args.status),
        ("trigger", args.trigger),
        ("branch", args.branch),
        ("commit", args.commit),
        ("from", args.created_from),
        ("to", args.created_to),
        ("before", args.before),
        ("after", args.after),
    ):
        if value:
            params[key] = value
    return asyncio.run(_call(args, "/internal/runs", params, _print_list))


def _handle_show(args: argparse.Namespace) -> int:
    import asyncio

    return asyncio.run(_call(args, f"/internal/runs/{args.run_id}", None, _print_run))


async def _call(
    args: argparse.Namespace, path: str, params: dict[str, str] | None, render: Any
) -> int:
    import json
    import sys

    from lamdis_core.domain.errors import LamdisError

    from lamdis_http.cli._client import ApiError
    from lamdis_http.cli._source import run_source

    try:
        async with run_source(args.server, items=True) as client:
            data = await client.request("GET", path, params=params)
    except ApiError as exc:
        print(f"lamdis runs: {exc}", file=sys.stderr)
        return EXIT_USAGE if exc.status in (400, 401, 403, 404) else EXIT_FAILED
    except LamdisError as exc:  # the store cannot be opened (a bad URL, a missing adapter)
        print(f"lamdis runs: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # the database named by MONGO_URL / DATABASE_URL is unreachable
        print(f"lamdis runs: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        render(data)
    return EXIT_OK


def _totals(run: dict[str, Any]) -> str:
    t = run.get("totals") or {}
    return f"{t.get('passed', 0)}/{t.get('failed', 0)}/{t.get('skipped', 0)}/{t.get('errors', 0)}"


def _print_list(data: dict[str, Any]) -> None:
    runs = data.get("runs", [])
    if not runs:
        print("no runs")
        return
    header = f"{'RUN ID':<34} {'STATUS':<8} {'SUITE':<28} {'P/F/S/E':<11} FINISHED"
    print(header)
    for run in runs:
        print(
            f"{run.get('id', '')!s:<34} {run.get('status', ''):<8} "
            f"{str(run.get('suiteId', ''))[:28]:<28} {_totals(run):<11} {run.get('finishedAt', '-')}"
        )
    for label, option, key in (("older", "before", "nextCursor"), ("newer", "after", "prevCursor")):
        if data.get(key):
            print(f"{label} runs: --{option} {data[key]}")


def _print_run(run: dict[str, Any]) -> None:
    print(f"run      {run.get('id')}")
    print(f"status   {run.get('status')}" + (f"  ({run['error']})" if run.get("error") else ""))
    print(f"suite    {run.get('suiteId')}  org {run.get('orgId')}  trigger {run.get('trigger')}")
    print(f"started  {run.get('startedAt', '-')}  finished {run.get('finishedAt', '-')}")
    print(f"totals   passed/failed/skipped/errors {_totals(run)}")
    score = (run.get("judge") or {}).get("avgScore")
    if score is not None:
        print(f"judge    avgScore {score}")
    if run.get("webhook"):
        hook = run["webhook"]
        print(
            f"webhook  ok={hook.get('ok')} attempts={hook.get('attempts')} status={hook.get('status')}"
        )
    for item in run.get("items", []):
        line = f"  {item.get('status', ''):<8} {item.get('testId')} @ {item.get('assistant')}"
        if item.get("error"):
            line += f"  - {item['error']}"
        print(line)
