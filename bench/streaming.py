"""Streaming channels: how close the measured time to first token is to the server's own
first-chunk time, and the client CPU per turn of ``sse`` and ``websocket`` against the plain
``http_chat`` channel (issue 10).

A bot in its own process answers three ways — a JSON reply, an OpenAI-style SSE stream and
WebSocket frames — and writes down, on the machine's monotonic clock (shared by all
processes on Linux), when it sent each reply's first chunk. The client records the same
clock just before each turn; ``start + ttftMs - server's first chunk`` is the measurement's
error (network, parsing, scheduling).

CPU per turn is ``time.process_time`` of the client process only (the bot runs in another
process), over many turns, in rounds that alternate the channels (ABBA order, so a drift in
the machine's load falls on every channel alike); each round gives each streaming channel a
ratio against the plain channel measured beside it, and the report shows the median and range
of those ratios. The bot does the same work for every channel: it parses the request and
answers from pre-encoded bytes. Two stream shapes:

- ``paced``: the bot leaves a gap between chunks, so every chunk is its own network read and
  event-loop wake-up on the client, as with a model generating tokens;
- ``burst``: the bot writes the whole stream at once (a buffering proxy, a cached answer).

    .venv/bin/python bench/streaming.py [--turns 200] [--rounds 9] [--record]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
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

from run import record

REPO = Path(__file__).resolve().parents[1]
WORDS = ["You ", "can ", "get ", "a ", "refund ", "within ", "30 ", "days ", "of ", "purchase."]


def serve(port: int) -> None:
    from aiohttp import web

    first_chunk: dict[str, float] = {}
    reply = json.dumps({"reply": "".join(WORDS)}).encode()
    sse_chunks = [
        f"data: {json.dumps({'choices': [{'index': 0, 'delta': {'content': w}}]})}\n\n".encode()
        for w in WORDS
    ] + [b"data: [DONE]\n\n"]
    ws_frames = [json.dumps({"type": "token", "content": w}) for w in WORDS] + ['{"type": "done"}']

    async def pause(body: Mapping[str, Any]) -> None:
        if body.get("delay_ms"):
            await asyncio.sleep(body["delay_ms"] / 1000)

    def gap_s(body: Mapping[str, Any]) -> float:
        return float(body.get("gap_ms") or 0) / 1000

    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        await pause(body)
        return web.Response(body=reply, content_type="application/json")

    async def sse(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        await pause(body)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        gap = gap_s(body)
        if not gap:
            first_chunk[body["id"]] = time.monotonic()
            await response.write(b"".join(sse_chunks))
        for index, chunk in enumerate(sse_chunks if gap else ()):
            if index:
                await asyncio.sleep(gap)
            await response.write(chunk)
            if index == 0:
                first_chunk[body["id"]] = time.monotonic()
        await response.write_eof()
        return response

    async def ws(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        async for frame in socket:
            body = json.loads(frame.data)
            await pause(body)
            gap = gap_s(body)
            for index, data in enumerate(ws_frames):
                if index and gap:
                    await asyncio.sleep(gap)
                await socket.send_str(data)
                if index == 0:
                    first_chunk[body["id"]] = time.monotonic()
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
    body = {
        "message": "{{message}}",
        "id": "{{var.id}}",
        "delay_ms": "{{var.delay}}",
        "gap_ms": "{{var.gap}}",
    }
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


async def _turns(
    mode: str, url: str, turns: int, *, delay_ms: int = 0, gap_ms: float = 0
) -> tuple[list[float], float]:
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
    turn_requests = [
        TurnRequest(
            message="How do refunds work?",
            transcript=[],
            conversation_id=conversation,
            variables={"id": f"{mode}-{delay_ms}-{index}", "delay": delay_ms, "gap": gap_ms},
        )
        for index in range(turns + 1)
    ]
    # The first turn opens the connection (and the websocket): not a per-turn cost.
    await target.send(turn_requests[0])
    gc.collect()
    cpu = time.process_time()
    for turn in turn_requests[1:]:
        started = time.monotonic()
        reply = await target.send(turn)
        starts[turn.variables["id"]] = (started, reply.ttft_ms)
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


SHAPES = {"paced": 2.0, "burst": 0.0}  # ms between chunks


FLOORS = {"floor sse": ("/sse", b"0\r\n\r\n"), "floor plain": ("/chat", b'purchase."}')}


async def _floor_turns(mode: str, url: str, turns: int, gap_ms: float) -> float:
    """Client CPU ms per turn of the least a client can do: the same request as pre-built
    bytes on one kept-alive socket, reading until the answer's last bytes. What is left when
    HTTP parsing, JSON and lamdis are taken away: the reads and wake-ups themselves."""
    path, last = FLOORS[mode]
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    body = json.dumps({"message": "How do refunds work?", "id": "floor", "gap_ms": gap_ms})
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()

    async def turn() -> None:
        writer.write(request)
        received = b""
        while not received.endswith(last):
            received += await reader.read(65536)

    await turn()
    gc.collect()
    cpu = time.process_time()
    for _ in range(turns):
        await turn()
    cpu_ms = (time.process_time() - cpu) * 1000 / turns
    writer.close()
    return cpu_ms


def _cpu_rounds(url: str, turns: int, rounds: int, gap_ms: float) -> dict[str, list[float]]:
    """Client CPU ms per turn, per channel, one value per round; ABBA order."""
    order = [*CHANNELS, *FLOORS]
    samples: dict[str, list[float]] = {mode: [] for mode in order}
    for index in range(rounds):
        for mode in order if index % 2 == 0 else reversed(order):
            if mode in FLOORS:
                cpu = asyncio.run(_floor_turns(mode, url, turns, gap_ms))
            else:
                cpu = asyncio.run(_turns(mode, url, turns, gap_ms=gap_ms))[1]
            samples[mode].append(cpu)
    return samples


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} x ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--turns", type=int, default=200, help="turns per CPU round")
    parser.add_argument("--rounds", type=int, default=9, help="alternating CPU rounds")
    parser.add_argument("--label", default="", help="a note for the recorded entry")
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
        for mode in CHANNELS:
            asyncio.run(_turns(mode, url, 20))  # warm-up
        for shape, gap_ms in SHAPES.items():
            samples = _cpu_rounds(url, args.turns, args.rounds, gap_ms)
            for mode in ("sse", "websocket", "configured", "plain", "floor sse", "floor plain"):
                base = samples["plain"]
                ratios = [value / b for value, b in zip(samples[mode], base, strict=True)]
                values = samples[mode]
                name = mode if mode in ("sse", "websocket") else f"http_chat ({mode})"
                if mode.startswith("floor"):
                    name = f"{mode} (a bare socket)"
                rows.append(
                    f"| {name} | {shape if mode not in ('configured', 'plain') else '—'} "
                    f"| {statistics.median(values):.3f} ms ({min(values):.3f}-{max(values):.3f}) "
                    f"| {_spread(ratios)} |"
                )
        ttft_rows: list[str] = []
        for channel in ("sse", "websocket"):
            errors, _ = asyncio.run(
                _turns(channel, url, min(args.turns, 100), delay_ms=50, gap_ms=SHAPES["paced"])
            )
            ttft_rows.append(
                f"| {channel} | {statistics.median(errors):.2f} ms | {_pct(errors, 0.95):.2f} ms "
                f"| {max(errors):.2f} ms |"
            )
    finally:
        server.terminate()
        server.wait(timeout=10)
    load_after = os.getloadavg()[0]
    table = (
        "| channel | stream | client CPU per turn, median (range) "
        "| vs plain http_chat in the same round, median (range) |\n"
        "|---|---|---|---|\n" + "\n".join(rows)
    )
    ttft_table = "| channel | TTFT error, median | p95 | max |\n|---|---|---|---|\n" + "\n".join(
        ttft_rows
    )
    print(table + "\n\n" + ttft_table)
    print(f"load average before/after: {load_before:.2f} / {load_after:.2f}")
    if args.record:
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        label = f" — {args.label}" if args.label else ""
        text = (
            f"\n### Streaming channels (`bench/streaming.py`) — {now}{label}\n\n"
            f"Machine: {machine()}; 1-minute load average before/after {load_before:.2f} / "
            f"{load_after:.2f}. Bot in its own process, 10 chunks per reply. CPU = client "
            f"`process_time` per turn over {args.turns} turns, {args.rounds} rounds alternating "
            "the channels (ABBA); ratios are taken within a round, against plain `http_chat` "
            f"(the lamdis-runs contract). Paced: {SHAPES['paced']:g} ms between chunks (one "
            "network read per chunk); burst: the whole stream in one write. Floor rows: the "
            "same requests as pre-built bytes on a bare asyncio socket, reading to the last "
            "byte (no HTTP parser, no JSON): the reads and wake-ups alone. TTFT error = "
            "client's request start + measured `ttftMs` - the bot's own first-chunk time (same "
            "monotonic clock), 100 paced turns with the first chunk 50 ms after the request. "
            f"`python bench/streaming.py --turns {args.turns} --rounds {args.rounds} --record`."
            f"\n\n{table}\n\n{ttft_table}\n"
        )
        record(text)


if __name__ == "__main__":
    main()
