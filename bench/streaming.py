"""Streaming channels: how close the measured time to first token is to the server's own
first-chunk time, and the client CPU per turn of ``sse`` and ``websocket`` against the plain
``http_chat`` channel (issue 10).

A bot in its own process answers three ways — a JSON reply, an OpenAI-style SSE stream and
WebSocket frames — and writes down, on the machine's monotonic clock (shared by all
processes on Linux), when it sent each reply's first chunk. The client records the same
clock just before each turn; ``start + ttftMs - server's first chunk`` is the measurement's
error (network, parsing, scheduling). CPU: ``time.process_time`` of the client over many
turns with no server delays, divided by the turns.

    .venv/bin/python bench/streaming.py [--turns 200] [--rounds 5] [--record]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
WORDS = ["You ", "can ", "get ", "a ", "refund ", "within ", "30 ", "days ", "of ", "purchase."]


def serve(port: int) -> None:
    from aiohttp import web

    first_chunk: dict[str, float] = {}

    async def pause(body: Mapping[str, Any]) -> None:
        if body.get("delay_ms"):
            await asyncio.sleep(body["delay_ms"] / 1000)

    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        await pause(body)
        return web.json_response({"reply": "".join(WORDS)})

    async def sse(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        await pause(body)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for index, word in enumerate(WORDS):
            chunk = {"choices": [{"index": 0, "delta": {"content": word}}]}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            if index == 0:
                first_chunk[body["id"]] = time.monotonic()
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def ws(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        async for frame in socket:
            body = json.loads(frame.data)
            await pause(body)
            for index, word in enumerate(WORDS):
                await socket.send_str(json.dumps({"type": "token", "content": word}))
                if index == 0:
                    first_chunk[body["id"]] = time.monotonic()
            await socket.send_str('{"type": "done"}')
        return socket

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(first_chunk)

    app = web.Application()
    app.router.add_post("/chat", chat)
    app.router.add_post("/sse", sse)
    app.router.add_get("/ws", ws)
    app.router.add_get("/stats", stats)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def _no_auth() -> Mapping[str, str]:
    return {}


CHANNELS = {"plain": "http_chat", "configured": "http_chat", "sse": "sse", "websocket": "websocket"}


def _assistant(mode: str, url: str) -> Any:
    from lamdis_core.domain import config as c

    channel = CHANNELS[mode]
    env = c.AssistantEnv(channel=channel, base_url=url, timeout_ms=10000)
    body = {"message": "{{message}}", "id": "{{var.id}}", "delay_ms": "{{var.delay}}"}
    if mode == "plain":
        return c.Assistant(id="plain", env=env, path="/chat")
    if mode == "configured":
        return c.Assistant(
            id="configured", env=env, request=c.ChannelRequest(path="/chat", body=body)
        )
    if channel == "sse":
        return c.Assistant(id="sse", env=env, request=c.ChannelRequest(path="/sse", body=body))
    return c.Assistant(
        id="ws",
        env=env,
        websocket=c.WebSocketSpec(
            path="/ws", message=body, done=c.Condition(path="$.type", equals="done")
        ),
    )


async def _turns(mode: str, url: str, turns: int, delay_ms: int) -> tuple[list[float], float]:
    """Errors of the TTFT measure (ms; streaming channels) and client CPU ms per turn."""
    from lamdis_core.ports.target import TurnRequest
    from lamdis_http.targets import (
        create_sse_factory,
        create_target_factory,
        create_websocket_factory,
    )

    make = {
        "http_chat": create_target_factory,
        "sse": create_sse_factory,
        "websocket": create_websocket_factory,
    }[CHANNELS[mode]]
    channel = CHANNELS[mode]
    factory = make({})
    target = factory.create(_assistant(mode, url), _no_auth, {})
    starts: dict[str, tuple[float, float | None]] = {}
    conversation = "c" * 32
    cpu = time.process_time()
    for index in range(turns):
        ident = f"{mode}-{delay_ms}-{index}"
        started = time.monotonic()
        reply = await target.send(
            TurnRequest(
                message="How do refunds work?",
                transcript=[],
                conversation_id=conversation,
                variables={"id": ident, "delay": delay_ms},
            )
        )
        starts[ident] = (started, reply.ttft_ms)
    cpu_ms = (time.process_time() - cpu) * 1000 / turns
    await target.aclose()
    await factory.aclose()
    errors: list[float] = []
    if channel in ("sse", "websocket"):
        server = await asyncio.to_thread(_stats, url)
        for ident, (started, ttft) in starts.items():
            assert ttft is not None
            errors.append((started + ttft / 1000 - server[ident]) * 1000)
    return errors, cpu_ms


def _stats(url: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{url}/stats", timeout=5) as response:
        data: dict[str, float] = json.loads(response.read())
        return data


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def _pct(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--turns", type=int, default=200, help="turns per CPU round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved CPU rounds (median)")
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    url = f"http://127.0.0.1:{port}"
    load_before = os.getloadavg()[0]
    rows: list[str] = []
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{url}/stats", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        # The machine is shared: rounds interleave the channels and the median is kept, so a
        # burst of load elsewhere does not land on one channel only.
        samples: dict[str, list[float]] = {mode: [] for mode in CHANNELS}
        for channel in samples:
            asyncio.run(_turns(channel, url, 20, 0))  # warm-up
        for _ in range(args.rounds):
            for channel in samples:
                samples[channel].append(asyncio.run(_turns(channel, url, args.turns, 0))[1])
        cpu = {channel: statistics.median(values) for channel, values in samples.items()}
        for channel in ("sse", "websocket"):
            errors, _ = asyncio.run(_turns(channel, url, min(args.turns, 100), 50))
            rows.append(
                f"| {channel} | {statistics.median(errors):.2f} ms | {_pct(errors, 0.95):.2f} ms | "
                f"{max(errors):.2f} ms | {cpu[channel]:.3f} ms | {cpu[channel] / cpu['plain']:.2f} x "
                f"| {cpu[channel] / cpu['configured']:.2f} x |"
            )
        for mode in ("configured", "plain"):
            rows.append(
                f"| http_chat ({mode}) | — | — | — | {cpu[mode]:.3f} ms | "
                f"{cpu[mode] / cpu['plain']:.2f} x | {cpu[mode] / cpu['configured']:.2f} x |"
            )
    finally:
        server.terminate()
        server.wait(timeout=10)
    table = (
        "| channel | TTFT error, median | p95 | max | client CPU per turn "
        "| vs http_chat, lamdis-runs contract | vs http_chat, configured request |\n"
        "|---|---|---|---|---|---|---|\n" + "\n".join(rows)
    )
    print(table)
    if args.record:
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        text = (
            f"\n### Streaming channels (`bench/streaming.py`) — {now}\n\n"
            f"Machine: {machine()}; 1-minute load average before/after {load_before:.2f} / "
            f"{os.getloadavg()[0]:.2f}. Bot in its own process, 10 chunks per reply; TTFT error = "
            "client's request start + measured `ttftMs` - the bot's own first-chunk time (same "
            "monotonic clock), over 100 turns with the first chunk 50 ms after the request; CPU "
            f"= client `process_time` per turn, {args.turns} turns with no delays, median of "
            f"{args.rounds} interleaved rounds. "
            f"`python bench/streaming.py --turns {args.turns} --rounds {args.rounds} --record`.\n\n{table}\n"
        )
        with (REPO / "bench" / "RESULTS.md").open("a") as handle:
            handle.write(text)


if __name__ == "__main__":
    main()
