"""``lamdis wait RUN_ID``: poll a hosted run until it finishes; exit 0 only for ``passed``.

The Python counterpart of lamdis-runs' ``npm run wait -- <runId>``: prints each status change
(``status: running``), then exits 0 for ``passed`` and 1 for ``failed``, ``partial`` or
``stopped`` and on timeout; 2 when the run is unknown or the server refuses the credentials.
"""

from __future__ import annotations

import argparse
from typing import Any

from lamdis_http.cli._common import EXIT_FAILED, EXIT_OK, EXIT_USAGE

FINAL = ("passed", "failed", "partial", "stopped")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "wait",
        help="wait for a hosted run to finish (exit 0 only when it passed)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_id", metavar="RUN_ID", help="the runId /internal/runs/start returned")
    parser.add_argument(
        "--server",
        default=None,
        help="the lamdis service (default: $LAMDIS_SERVER or http://127.0.0.1:3101)",
    )
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="seconds to wait (default 900)"
    )
    parser.add_argument(
        "--interval", type=float, default=2.0, help="seconds between polls (default 2, min 1)"
    )
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    import asyncio

    return asyncio.run(_wait(args))


async def _wait(args: argparse.Namespace) -> int:
    import asyncio
    import sys
    import time

    from lamdis_http.cli._client import ApiClient, ApiError, default_server

    server = args.server or default_server()
    # At most one poll a second: a signed request repeats its signature within one second.
    interval = max(1.0, args.interval)
    deadline = time.monotonic() + max(0.0, args.timeout)
    last = ""
    async with ApiClient(server) as client:
        while True:
            try:
                run = await client.request("GET", f"/internal/runs/{args.run_id}")
            except ApiError as exc:
                if exc.status in (401, 403, 404):
                    print(f"lamdis wait: {exc}", file=sys.stderr)
                    return EXIT_USAGE
                print(f"lamdis wait: {exc} (retrying)", file=sys.stderr)
                run = None
            status = str(run.get("status", "")) if isinstance(run, dict) else ""
            if status and status != last:
                print(f"status: {status}", flush=True)
                last = status
            if status in FINAL:
                totals = run.get("totals", {}) if isinstance(run, dict) else {}
                print(
                    f"totals: passed={totals.get('passed', 0)} failed={totals.get('failed', 0)} "
                    f"skipped={totals.get('skipped', 0)} errors={totals.get('errors', 0)}",
                    flush=True,
                )
                if status == "passed":
                    return EXIT_OK
                error = run.get("error") if isinstance(run, dict) else None
                suffix = f" ({error})" if error else ""
                print(f"Run finished with status: {status}{suffix}", file=sys.stderr)
                return EXIT_FAILED
            if time.monotonic() >= deadline:
                print(f"Timeout waiting for run {args.run_id} to complete", file=sys.stderr)
                return EXIT_FAILED
            await asyncio.sleep(min(interval, max(0.0, deadline - time.monotonic())))
