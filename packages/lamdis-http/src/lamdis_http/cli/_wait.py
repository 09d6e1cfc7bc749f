"""``lamdis wait RUN_ID``: poll a hosted run until it finishes; exit 0 only for ``passed``.

The Python counterpart of lamdis-runs' ``npm run wait -- <runId>``: prints each status change
(``status: running``), then exits 0 for ``passed`` and 1 for ``failed``, ``partial`` or
``stopped`` and on timeout; 2 when the run is unknown, the server refuses the credentials, or
the server is not a lamdis service (it then says what answered: status, content type and the
first bytes).

Where it reads the run: ``--server`` or ``LAMDIS_SERVER`` (the hosted API); else, like the
seed's wait script, the database named by ``MONGO_URL`` / ``DATABASE_URL`` (``DB_PROVIDER``);
else ``http://127.0.0.1:3101``.
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
    import sys
    import time

    from lamdis_core.domain.errors import LamdisError

    from lamdis_http.cli._client import ApiError

    # At most one poll a second: a signed request repeats its signature within one second.
    interval = max(1.0, args.interval)
    deadline = time.monotonic() + max(0.0, args.timeout)
    last = ""
    try:
        from lamdis_http.cli._source import run_source

        source = run_source(args.server, items=False)
        async with source as client:
            return await _poll(client, args, interval, deadline, last)
    except LamdisError as exc:
        print(f"lamdis wait: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ApiError as exc:
        print(f"lamdis wait: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:  # the database named by MONGO_URL / DATABASE_URL is unreachable
        print(f"lamdis wait: {exc}", file=sys.stderr)
        return EXIT_FAILED


async def _poll(
    client: Any, args: argparse.Namespace, interval: float, deadline: float, last: str
) -> int:
    import asyncio
    import json
    import sys
    import time

    from lamdis_http.cli._client import ApiError, NotLamdisError

    while True:
        try:
            run = await client.request("GET", f"/internal/runs/{args.run_id}")
        except NotLamdisError as exc:
            print(f"lamdis wait: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except ApiError as exc:
            if exc.status in (401, 403, 404):
                print(f"lamdis wait: {exc}", file=sys.stderr)
                return EXIT_USAGE
            print(f"lamdis wait: {exc} (retrying)", file=sys.stderr)
            run = None
        status = str(run.get("status", "")) if isinstance(run, dict) else ""
        if run is not None and not status:
            # JSON, but not a run: another API at this address.
            body = json.dumps(run)
            more = "..." if len(body) > 80 else ""
            print(
                f"lamdis wait: the answer to GET /internal/runs/{args.run_id} is JSON but not a "
                f"lamdis run (it has no status): body starts {body[:80]!r}{more}",
                file=sys.stderr,
            )
            return EXIT_USAGE
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
