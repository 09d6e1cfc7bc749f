"""The ``websocket`` target: one templated frame per turn, the reply read from the frames
that come back.

``websocket.message`` is the frame template (an object is sent as JSON text; default: the
lamdis-runs body). Frames are read until ``done`` holds on a JSON frame, the server closes
the connection (``untilClose``), or no frame arrived for ``idleMs``; at least one of the
three must be set. ``contentPath`` picks each frame's text (default ``$.content``; ``$`` for
``format: text``). A connection is opened per conversation (``connect: conversation``, the
default, after the optional HTTP session request) or per turn (``connect: turn``).

Frames that match ``response.error`` end the turn as an error; when ``statusPath`` finds an
HTTP-like status in it, 429/502/503/504 are retried like HTTP answers (``retryAfterPath``).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
from lamdis_core.domain import config as c
from lamdis_core.domain.errors import TargetError
from lamdis_core.jsonpath import JsonPath, compile_path
from lamdis_core.ports.target import ToolCall, TurnReply, TurnRequest
from lamdis_core.ratelimit import THROTTLING_STATUSES
from lamdis_core.sanitize import loads_bounded
from lamdis_core.template import TemplateError, compile_template, render
from lamdis_core.tracing import record_http

from lamdis_http._session import safe_url
from lamdis_http.targets._channel import (
    RETRYABLE_STATUSES,
    ChannelSetup,
    ChannelTarget,
    Conversation,
    condition_holds,
    default_body,
    describe_condition,
    mask,
    received,
    tool_calls_in,
)


class WebSocketTarget(ChannelTarget):
    """One assistant reached over a WebSocket."""

    channel = "websocket"

    def _needs_base_url(self, assistant: c.Assistant) -> bool:
        return not (assistant.websocket and assistant.websocket.url)

    def _configure(self, setup: ChannelSetup) -> None:
        spec = setup.assistant.websocket or c.WebSocketSpec()
        self.spec = spec
        self.path_template = setup.resolve(
            spec.path or setup.assistant.effective_path, "$.websocket.path"
        )
        self.url_template = setup.resolve(spec.url, "$.websocket.url")
        self.ws_headers: dict[str, str] = setup.resolve(
            dict(spec.headers), "$.websocket.headers", secret=True
        )
        self.message = setup.resolve(spec.message, "$.websocket.message")
        self.frame = None if self.message is c.UNSET else compile_template(self.message)
        default = "$" if spec.format == "text" else "$.content"
        self.content: JsonPath = compile_path(spec.content_path or default)
        self.tool_path = compile_path(spec.tool_calls) if spec.tool_calls else None
        self.idle_s = spec.idle_ms / 1000 if spec.idle_ms else None
        self.status_path = compile_path(spec.status_path) if spec.status_path else None
        self.retry_after_path = (
            compile_path(spec.retry_after_path) if spec.retry_after_path else None
        )
        if spec.done is None and not spec.until_close and self.idle_s is None:
            setup.problem(
                "$.websocket",
                "say when a reply ends: done (a condition on a frame), untilClose: true, "
                "or idleMs (a quiet gap)",
            )
        terms = []
        if spec.done is not None:
            terms.append(describe_condition(spec.done))
        if spec.until_close:
            terms.append("the server closing")
        if self.idle_s is not None:
            terms.append(f"{spec.idle_ms} ms without a frame")
        self.terminal = " or ".join(terms)

    def _url(self, values: dict[str, Any]) -> tuple[str, str]:
        if self.url_template:
            shown = str(self.url_template)
            url = str(render(self.url_template, values))
        else:
            path = str(self.path_template or "")
            path = path if path.startswith("/") else "/" + path
            base = self.base_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
            shown = safe_url(base) + path
            url = base + str(render(path, values))
        return url, f"WebSocket {shown}"

    async def _connect(
        self, turn: TurnRequest, conversation: Conversation, values: dict[str, Any]
    ) -> tuple[aiohttp.ClientWebSocketResponse, str]:
        try:
            url, where = self._url(values)
            extra = {k: str(render(v, values)) for k, v in self.ws_headers.items()}
        except TemplateError as exc:
            raise TargetError(f"WebSocket {self.assistant_id}: {exc}") from exc
        # Every turn names its socket (the handshake's GET), also one opened by an earlier turn.
        record_http("GET", url)
        if conversation.socket is not None and not conversation.socket.closed:
            return conversation.socket, where
        # The handshake's traceparent carries the conversation's trace id.
        headers = await self.headers_for(conversation, extra)
        try:
            socket = await self._session.get().ws_connect(
                url,
                headers=headers,
                timeout=aiohttp.ClientWSTimeout(ws_close=self.timeout_s),
                autoping=True,
            )
        except aiohttp.WSServerHandshakeError as exc:
            status = exc.status
            raise TargetError(
                f"{where}: the handshake was refused with HTTP {status} "
                f"({mask(exc.message, self.secrets_of(conversation))})",
                retryable=status in RETRYABLE_STATUSES,
                retry_after=_retry_after_header(exc),
                status=status,
            ) from exc
        except (aiohttp.ClientConnectionError, OSError) as exc:
            raise TargetError(
                f"{where}: could not connect ({type(exc).__name__}: {exc}); is the assistant "
                "running and is env.baseUrl right?",
                retryable=True,
            ) from exc
        if self.spec.connect == "conversation":
            conversation.socket = socket
        return socket, where

    async def send(self, turn: TurnRequest) -> TurnReply:
        """Send this turn's frame and read frames until the reply ends.

        Raises:
            TargetError: a refused handshake (with its status), a frame that is not JSON when
                JSON is expected, an error frame, the connection closing mid-reply, or no end
                (``done``/close/idle) within ``env.timeoutMs``.
        """
        conversation = self.conversation(turn)
        await self.begin(turn, conversation)
        values = self.values(turn, conversation)
        try:
            frame = default_body(turn) if self.frame is None else self.frame(values)
        except TemplateError as exc:
            raise TargetError(f"WebSocket {self.assistant_id}: {exc}") from exc
        async with asyncio.timeout(self.timeout_s):
            socket, where = await self._connect(turn, conversation, values)
        state = _Frames(self, where, conversation)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout_s) as deadline:
                if isinstance(frame, dict | list):
                    await socket.send_str(json.dumps(frame))
                else:
                    await socket.send_str(str(frame))
                while True:
                    try:
                        if self.idle_s is not None and state.frames:
                            async with asyncio.timeout(self.idle_s):
                                message = await socket.receive()
                        else:
                            message = await socket.receive()
                    except TimeoutError:
                        if deadline.expired():
                            raise
                        break  # the idle gap ends the reply
                    if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                        if state.take(message.data, started):
                            break
                        continue
                    if message.type in (
                        aiohttp.WSMsgType.CLOSE,
                        aiohttp.WSMsgType.CLOSING,
                        aiohttp.WSMsgType.CLOSED,
                    ):
                        conversation.socket = None
                        if self.spec.until_close:
                            break
                        raise TargetError(
                            f"{where}: the connection closed mid-reply (code {socket.close_code}) "
                            f"before {self.terminal}; received: {state.shown()}",
                            retryable=True,
                        )
                    if message.type is aiohttp.WSMsgType.ERROR:
                        conversation.socket = None
                        raise TargetError(
                            f"{where}: the connection failed mid-reply ({message.data}); "
                            f"received: {state.shown()}",
                            retryable=True,
                        )
        except TimeoutError as exc:
            await self._drop(conversation)
            raise TargetError(
                f"{where}: the reply did not end ({self.terminal}) within {self.timeout_s:g} s "
                f"(env.timeoutMs); received: {state.shown()}",
                retryable=True,
            ) from exc
        except TargetError:
            await self._drop(conversation)
            raise
        finally:
            if self.spec.connect == "turn" and not socket.closed:
                await socket.close()
        latency_ms = (time.perf_counter() - started) * 1000
        text = "".join(state.parts)
        if not text.strip() and not state.calls:
            raise TargetError(
                f"{where}: the frames carried an empty reply (at {self.content}); an assistant "
                f"that says nothing cannot pass a test; received: {state.shown()}"
            )
        return TurnReply(
            text=text,
            latency_ms=latency_ms,
            raw={"frames": state.documents},
            tool_calls=state.calls,
            ttft_ms=state.ttft_ms,
            chunks=state.chunks,
        )

    async def _drop(self, conversation: Conversation) -> None:
        """After a failed turn the socket's state is unknown: the next turn reconnects."""
        socket, conversation.socket = conversation.socket, None
        if socket is not None and not socket.closed:
            await socket.close()

    async def _release(self, conversation: Conversation) -> None:
        await self._drop(conversation)


def _retry_after_header(exc: aiohttp.WSServerHandshakeError) -> float | None:
    from lamdis_core.retry import parse_retry_after

    headers: Any = exc.headers or {}
    return (
        parse_retry_after(headers.get("Retry-After")) if exc.status in THROTTLING_STATUSES else None
    )


class _Frames:
    """What one turn's frames have delivered so far."""

    def __init__(self, target: WebSocketTarget, where: str, conversation: Conversation) -> None:
        self.target = target
        self.where = where
        self.conversation = conversation
        self.raw = bytearray()
        self.parts: list[str] = []
        self.documents: list[Any] = []
        self.calls: list[ToolCall] = []
        self.frames = 0
        self.chunks = 0
        self.ttft_ms: float | None = None

    def shown(self) -> str:
        return received(bytes(self.raw), self.target.secrets_of(self.conversation))

    def take(self, data: str | bytes, started: float) -> bool:
        """Take one frame; ``True`` when it ends the reply."""
        target = self.target
        text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
        self.raw.extend(text.encode() + b"\n")
        self.frames += 1
        document: Any = text
        if target.spec.format == "json":
            try:
                document = loads_bounded(text)
            except ValueError as exc:
                raise TargetError(
                    f"{self.where}: a frame is not JSON ({exc}; set websocket.format: text "
                    f"for text frames); received: {self.shown()}"
                ) from exc
        self.documents.append(document)
        error = target.reading.error
        if error is not None and condition_holds(error, document)[0]:
            status = target.status_path.first(document) if target.status_path else None
            status = status if isinstance(status, int) and not isinstance(status, bool) else None
            retry_after = (
                target.retry_after_path.first(document) if target.retry_after_path else None
            )
            raise TargetError(
                f"{self.where}: an error frame ({describe_condition(error)}); received: {self.shown()}",
                status=status,
                retryable=status in RETRYABLE_STATUSES,
                retry_after=float(retry_after) if isinstance(retry_after, int | float) else None,
            )
        found = target.content.find(document)
        piece = found[0] if found else None
        if isinstance(piece, str) and piece:
            if self.ttft_ms is None:
                self.ttft_ms = (time.perf_counter() - started) * 1000
            self.chunks += 1
            self.parts.append(piece)
        if target.tool_path is not None and not isinstance(document, str):
            self.calls.extend(tool_calls_in(document, target.tool_path))
        done = target.spec.done
        if done is not None and not isinstance(document, str):
            return condition_holds(done, document)[0]
        return False
