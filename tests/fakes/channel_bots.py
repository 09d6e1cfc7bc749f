"""Assistants of every shape lamdis' channels reach, served over real HTTP on loopback.

One aiohttp app, one route family per shape:

==========================  ==============================================================
``/rest/...``               REST: ``POST /rest/conversations`` answers ``{id}`` and an
                            ``X-Session-Id`` header; ``POST /rest/messages`` needs that header
                            and takes ``{input: {text}, history: [OpenAI messages], persona}``,
                            answering ``{output: {text}, status}``; ``DELETE
                            /rest/conversations/{id}`` closes one
``/cookie/chat``            form-encoded ``message=...``; a ``sid`` cookie set on the first
                            call must come back; answers plain text
``/sse/openai``             OpenAI chat-completion chunks (``data: {...}`` ... ``[DONE]``),
                            also served as ``/v1/chat/completions``
``/sse/events``             named events: ``token`` ``{"text"}`` ... ``done``
``/ws``                     WebSocket: frames ``{"text", "persona"?}`` in; ``{"type": "token",
                            "content"}`` ... ``{"type": "done"}`` out; errors as
                            ``{"type": "error", "status", "retryAfter"}``
``/tools/chat``             OpenAI chat completions, with a ``get_weather`` tool call when
                            asked about the weather
``/limited/chat``           the lamdis-runs contract behind a token bucket (``rate``/s);
                            429 with ``Retry-After`` beyond it
==========================  ==============================================================

Every shape understands the Target contract's markers (``#echo``, ``#delay:MS``,
``#fail:400|429|500|503|empty|nonjson|hang``). Run one for the examples with
``python -m tests.fakes.channel_bots --port 3300``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import attrs
from aiohttp import WSMsgType, web

_FAIL = re.compile(r"#fail:([a-z0-9]+)", re.IGNORECASE)
_DELAY = re.compile(r"#delay:(\d+)", re.IGNORECASE)
HANG_LIMIT_S = 30.0


@attrs.define
class BotState:
    """What the bots saw, for tests to assert on."""

    stopping: asyncio.Event = attrs.Factory(asyncio.Event)
    conversations: dict[str, list[str]] = attrs.Factory(dict)
    closed: list[str] = attrs.Factory(list)
    headers: list[dict[str, str]] = attrs.Factory(list)
    bodies: list[Any] = attrs.Factory(list)
    ids: Any = attrs.Factory(lambda: itertools.count(1))
    rate: float = 50.0
    burst: float = 50.0
    tokens: float = 50.0
    refilled: float = attrs.Factory(time.monotonic)
    admitted: int = 0
    refused: int = 0
    chunk_delay_s: float = 0.0
    first_chunk_at: list[float] = attrs.Factory(list)


STATE = web.AppKey("state", BotState)


def reply_for(message: str, history: list[dict[str, Any]], persona: str | None) -> str:
    """The answer text; ``#echo`` returns everything received."""
    if "#echo" in message.lower():
        return "Echo: " + json.dumps(
            {"message": message, "history": history, "persona": persona},
            ensure_ascii=False,
            sort_keys=True,
        )
    lowered = message.lower()
    if "refund" in lowered:
        return "You can get a refund within 30 days of purchase."
    if "hello" in lowered or "hi" in lowered.split():
        return "Hello! I can help with orders, refunds and the weather."
    return f"You said: {message}. Anything else?"


async def _pause(state: BotState, seconds: float) -> None:
    if seconds <= 0 or state.stopping.is_set():
        return
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await state.stopping.wait()


async def _marker(state: BotState, message: str) -> web.Response | str | None:
    """A response for a ``#fail`` marker, ``"empty"``/``"nonjson"``, or ``None``."""
    if match := _DELAY.search(message):
        await _pause(state, int(match.group(1)) / 1000)
    match = _FAIL.search(message)
    if not match:
        return None
    fault = match.group(1).lower()
    if fault.isdigit():
        headers = {"Retry-After": "0"} if fault in ("429", "503") else {}
        return web.json_response({"error": f"#fail:{fault}"}, status=int(fault), headers=headers)
    if fault == "hang":
        await _pause(state, HANG_LIMIT_S)
        return web.json_response({"error": "hang ended"}, status=503)
    return fault


def _record(request: web.Request, body: Any) -> BotState:
    state = request.app[STATE]
    state.headers.append(dict(request.headers))
    state.bodies.append(body)
    return state


# --- REST with a session id header -----------------------------------------------------------


async def _rest_start(request: web.Request) -> web.Response:
    state = _record(request, await request.json())
    conversation = f"conv-{next(state.ids)}"
    state.conversations[conversation] = []
    return web.json_response({"id": conversation}, headers={"X-Session-Id": conversation})


async def _rest_message(request: web.Request) -> web.Response:
    body = await request.json()
    state = _record(request, body)
    conversation = request.headers.get("X-Session-Id", "")
    if conversation not in state.conversations:
        return web.json_response({"error": "unknown or missing X-Session-Id"}, status=400)
    text = body["input"]["text"]
    state.conversations[conversation].append(text)
    special = await _marker(state, text)
    if isinstance(special, web.Response):
        return special
    if special == "nonjson":
        return web.Response(text="<html>proxy error</html>", content_type="text/html")
    if special == "empty":
        return web.json_response({"output": {"text": ""}, "status": "ok"})
    if special == "refused":
        return web.json_response({"output": {"text": "no"}, "status": "error", "code": "E42"})
    reply = reply_for(text, body.get("history", []), body.get("persona"))
    turns = len(state.conversations[conversation])
    return web.json_response(
        {
            "output": {"text": f"{reply} (turn {turns})"},
            "status": "ok",
            "conversation": conversation,
        }
    )


async def _rest_close(request: web.Request) -> web.Response:
    state = _record(request, None)
    state.closed.append(request.match_info["id"])
    return web.json_response({"closed": True})


# --- a cookie session, form-encoded in, plain text out ----------------------------------------


async def _cookie_chat(request: web.Request) -> web.Response:
    form = await request.post()
    state = _record(request, dict(form))
    message = str(form.get("message", ""))
    sid = request.cookies.get("sid")
    headers: dict[str, str] = {}
    if sid is None:
        sid = f"s{next(state.ids)}"
        state.conversations[sid] = []
        headers["Set-Cookie"] = f"sid={sid}; Path=/; HttpOnly"
    elif sid not in state.conversations:
        return web.Response(text="unknown session", status=400)
    state.conversations[sid].append(message)
    special = await _marker(state, message)
    if isinstance(special, web.Response):
        return special
    if special == "nonjson":
        return web.Response(text="<html>proxy error</html>", content_type="text/html")
    history = json.loads(str(form.get("history") or "[]"))
    text = (
        ""
        if special == "empty"
        else reply_for(message, history, str(form.get("persona", "")) or None)
    )
    if text:
        text = f"{text} [{len(state.conversations[sid])} in session]"
    if request.query.get("format") == "text":
        return web.Response(text=text, headers=headers)
    return web.json_response({"answer": text}, headers=headers)


# --- Server-sent events -----------------------------------------------------------------------


async def _stream(request: web.Request, pieces: list[bytes]) -> web.StreamResponse:
    state = request.app[STATE]
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    for index, piece in enumerate(pieces):
        if index and state.chunk_delay_s:
            await _pause(state, state.chunk_delay_s)
        if index == 0:
            state.first_chunk_at.append(time.perf_counter())
        await response.write(piece)
    await response.write_eof()
    return response


def _words(text: str) -> list[str]:
    parts = re.findall(r"\S+\s*", text)
    return parts or [text]


async def _sse_openai(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    state = _record(request, body)
    messages = body.get("messages", [])
    message = messages[-1]["content"] if messages else ""
    special = await _marker(state, message)
    if isinstance(special, web.Response):
        return special
    if special == "hang_stream":  # pragma: no cover - reserved
        pass
    if special == "nonjson":
        return await _stream(request, [b"data: <html>oops</html>\n\n"])
    if special == "cut":
        return await _stream(request, [_chunk("partial ")])
    if special == "stall":  # one chunk, then nothing until the server stops
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(_chunk("partial "))
        await _pause(state, HANG_LIMIT_S)
        return response
    persona = (body.get("metadata") or {}).get("persona")
    text = "" if special == "empty" else reply_for(message, messages[:-1], persona)
    pieces = [_chunk(word) for word in _words(text)] if text else [_chunk("")]
    if "weather" in message.lower():
        pieces += _tool_chunks()
    return await _stream(request, [*pieces, b"data: [DONE]\n\n"])


def _chunk(content: str) -> bytes:
    data = {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": content}}],
    }
    return f"data: {json.dumps(data)}\n\n".encode()


def _tool_chunks() -> list[bytes]:
    first = {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Par'},
    }
    second = {"index": 0, "function": {"arguments": 'is", "unit": "C"}'}}
    return [
        f"data: {json.dumps({'choices': [{'index': 0, 'delta': {'tool_calls': [d]}}]})}\n\n".encode()
        for d in (first, second)
    ]


async def _sse_events(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    state = _record(request, body)
    message = body.get("query", "")
    special = await _marker(state, message)
    if isinstance(special, web.Response):
        return special
    if special == "nonjson":
        return await _stream(
            request, [b"event: token\ndata: <html>\n\n", b"event: done\ndata: {}\n\n"]
        )
    if special == "cut":
        return await _stream(request, [b'event: token\ndata: {"text": "par"}\n\n'])
    text = (
        ""
        if special == "empty"
        else reply_for(message, body.get("history", []), body.get("persona"))
    )
    pieces = [b": ping\n\n"]
    pieces += [f"event: token\ndata: {json.dumps({'text': w})}\n\n".encode() for w in _words(text)]
    return await _stream(request, [*pieces, b'event: done\ndata: {"finish": "stop"}\n\n'])


# --- WebSocket --------------------------------------------------------------------------------


async def _ws(request: web.Request) -> web.WebSocketResponse:
    state = request.app[STATE]
    state.headers.append(dict(request.headers))
    socket = web.WebSocketResponse()
    await socket.prepare(request)
    seen: list[dict[str, Any]] = []
    async for frame in socket:
        if frame.type is not WSMsgType.TEXT:
            continue
        data = json.loads(frame.data)
        state.bodies.append(data)
        text = data.get("text", "")
        if special := _FAIL.search(text):
            fault = special.group(1).lower()
            if fault.isdigit():
                await socket.send_json({"type": "error", "status": int(fault), "retryAfter": 0})
                continue
            if fault == "hang":
                await _pause(state, HANG_LIMIT_S)
                continue
            if fault == "nonjson":
                await socket.send_str("<html>oops</html>")
                continue
            if fault == "close":
                await socket.send_json({"type": "token", "content": "part"})
                await socket.close()
                break
            if fault == "empty":
                await socket.send_json({"type": "done"})
                continue
        if match := _DELAY.search(text):
            await _pause(state, int(match.group(1)) / 1000)
        reply = reply_for(text, data.get("history", seen), data.get("persona"))
        seen += [{"role": "user", "content": text}, {"role": "assistant", "content": reply}]
        state.first_chunk_at.append(time.perf_counter())
        for index, word in enumerate(_words(reply)):
            if index and state.chunk_delay_s:
                await _pause(state, state.chunk_delay_s)
            await socket.send_json({"type": "token", "content": word})
        await socket.send_json({"type": "done"})
    return socket


# --- tools ------------------------------------------------------------------------------------


async def _tools_chat(request: web.Request) -> web.Response:
    body = await request.json()
    state = _record(request, body)
    message = body["messages"][-1]["content"]
    special = await _marker(state, message)
    if isinstance(special, web.Response):
        return special
    tool_calls: list[dict[str, Any]] = []
    persona = (body.get("metadata") or {}).get("persona")
    content: str | None = reply_for(message, body["messages"][:-1], persona)
    if special == "empty":
        content = ""
    elif special == "nonjson":
        return web.Response(text="<html>proxy error</html>", content_type="text/html")
    if "weather" in message.lower():
        city = "Paris" if "paris" in message.lower() else "Oslo"
        tool_calls.append(
            {
                "id": "call_7",
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "arguments": json.dumps({"city": city, "unit": "C"}),
                },
            }
        )
        content = None
    if "refund" in message.lower():
        tool_calls.append(
            {
                "id": "call_8",
                "type": "function",
                "function": {"name": "issue_refund", "arguments": json.dumps({"order": "A-1"})},
            }
        )
    message_out: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message_out["tool_calls"] = tool_calls
    return web.json_response(
        {
            "object": "chat.completion",
            "choices": [{"index": 0, "message": message_out}],
            "usage": {"total_tokens": 12},
        }
    )


# --- rate limited -----------------------------------------------------------------------------


async def _limited_chat(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await request.json()
    now = time.monotonic()
    state.tokens = min(state.burst, state.tokens + (now - state.refilled) * state.rate)
    state.refilled = now
    if state.tokens < 1:
        state.refused += 1
        wait = (1 - state.tokens) / state.rate
        return web.json_response(
            {"error": "rate limited"}, status=429, headers={"Retry-After": f"{wait:.3f}"}
        )
    state.tokens -= 1
    state.admitted += 1
    return web.json_response(
        {"reply": reply_for(body["message"], body.get("transcript", []), None)}
    )


def make_bots_app(state: BotState | None = None) -> web.Application:
    app = web.Application()
    app[STATE] = state or BotState()
    app.router.add_post("/rest/conversations", _rest_start)
    app.router.add_post("/rest/messages", _rest_message)
    app.router.add_delete("/rest/conversations/{id}", _rest_close)
    app.router.add_post("/cookie/chat", _cookie_chat)
    app.router.add_post("/sse/openai", _sse_openai)
    app.router.add_post("/v1/chat/completions", _sse_openai)  # an OpenAI-compatible server
    app.router.add_post("/sse/events", _sse_events)
    app.router.add_get("/ws", _ws)
    app.router.add_post("/tools/chat", _tools_chat)
    app.router.add_post("/limited/chat", _limited_chat)

    async def release(app: web.Application) -> None:
        app[STATE].stopping.set()

    app.on_shutdown.append(release)
    return app


@contextlib.asynccontextmanager
async def serve_bots(state: BotState | None = None) -> AsyncIterator[tuple[str, BotState]]:
    """Serve the bots on a free loopback port; yields the base URL and their state."""
    state = state or BotState()
    runner = web.AppRunner(make_bots_app(state), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    try:
        yield f"http://127.0.0.1:{port}", state
    finally:
        await runner.cleanup()


def main() -> None:  # pragma: no cover - a convenience for running the examples by hand
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=3300)
    args = parser.parse_args()
    web.run_app(make_bots_app(), host="127.0.0.1", port=args.port)


if __name__ == "__main__":  # pragma: no cover
    main()
