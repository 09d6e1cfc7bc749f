"""``lamdis demo-assistant``: serve the bundled demo assistant until Ctrl-C."""

from __future__ import annotations

import argparse
from typing import Any

from lamdis_http.cli._common import EXIT_OK, EXIT_USAGE

DEFAULT_PORT = 3210


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo-assistant",
        help="serve the bundled demo assistant (http_chat, accounts API, OAuth tokens)",
        description="Serve the deterministic demo investing assistant that the examples "
        "run against: POST /chat (the http_chat contract), a small accounts API and an "
        "OAuth client-credentials token endpoint. Runs until Ctrl-C.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port (default {DEFAULT_PORT}; 0 = any free)",
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        metavar="MS",
        help="wait MS milliseconds before each chat reply (simulates a slow model)",
    )
    parser.add_argument(
        "--correct-rate",
        type=float,
        default=1.0,
        metavar="P",
        help="answer correctly with probability P (0 to 1, default 1); below 1 the demo is a "
        "flaky assistant for trying --repeat and --min-pass-rate",
    )
    parser.add_argument(
        "--seed", type=int, default=None, metavar="N", help="seed for --correct-rate's draws"
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    import asyncio

    if args.latency_ms < 0:
        print("lamdis demo-assistant: --latency-ms must be >= 0", flush=True)
        return EXIT_USAGE
    if not 0.0 <= args.correct_rate <= 1.0:
        print(
            f"lamdis demo-assistant: --correct-rate must be between 0 and 1, got "
            f"{args.correct_rate}",
            flush=True,
        )
        return EXIT_USAGE
    try:
        asyncio.run(_serve(args.host, args.port, args.latency_ms, args.correct_rate, args.seed))
    except KeyboardInterrupt:
        pass
    except OSError as exc:  # port taken, address not available
        print(f"lamdis demo-assistant: cannot listen on {args.host}:{args.port}: {exc}")
        return EXIT_USAGE
    return EXIT_OK


async def _serve(
    host: str, port: int, latency_ms: float, correct_rate: float = 1.0, seed: int | None = None
) -> None:
    import asyncio

    from lamdis_http.demo import start_demo_server

    runner, url = await start_demo_server(
        host, port, latency_ms, correct_rate=correct_rate, seed=seed
    )
    print(f"demo assistant listening on {url} (POST /chat); Ctrl-C to stop", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
