"""``python -m lamdis_http.demo [--host H] [--port P] [--latency-ms MS]``: serve the demo.

The ``lamdis demo-assistant`` command does the same; this entry needs nothing but aiohttp.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from lamdis_http.demo._app import start_demo_server


async def _serve(host: str, port: int, latency_ms: float) -> None:
    runner, url = await start_demo_server(host, port, latency_ms)
    print(f"lamdis demo assistant listening on {url} (Ctrl-C to stop)", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m lamdis_http.demo", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3210)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.host, args.port, args.latency_ms))


if __name__ == "__main__":
    main()
