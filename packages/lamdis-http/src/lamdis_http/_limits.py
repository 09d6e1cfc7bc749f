"""Server limits of ``lamdis serve``: how long a client may take to send a request, and how
many connections one instance holds.

A client that opens a connection and sends its headers or body slowly (or never) would
otherwise hold the connection — and a file descriptor — for as long as it likes: 100
half-sent POSTs were still open after 130 s. Here:

- the headers of a request must arrive within ``read_seconds`` of the connection opening
  (or of the previous response on a kept-alive connection); an idle kept-alive connection
  is closed after the same time;
- the body must arrive within ``read_seconds`` of the headers (:func:`body_deadline_middleware`,
  which answers 408);
- beyond ``max_connections`` open connections, a new one is answered 503 and closed at once.

Every drop is logged as a warning naming the reason and the peer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from lamdis_core.logs import get_logger

from lamdis_http._problems import PROBLEM_CONTENT_TYPE, problem

logger = get_logger()

DEFAULT_READ_SECONDS = 30.0
DEFAULT_MAX_CONNECTIONS = 1000

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _peer(transport: asyncio.BaseTransport | None) -> str:
    peer = transport.get_extra_info("peername") if transport is not None else None
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer or "unknown")


def _busy_response(max_connections: int) -> bytes:
    body = json.dumps(
        {
            "type": "about:blank",
            "title": "Service Unavailable",
            "status": 503,
            "detail": f"this instance already holds {max_connections} connections; retry shortly",
        }
    ).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        f"Content-Type: {PROBLEM_CONTENT_TYPE}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Retry-After: 1\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class ConnectionGuard:
    """Counts the open connections of one listener and enforces the header deadline.

    Use :meth:`protocol_factory` as the ``protocol_factory`` of ``loop.create_server``
    around aiohttp's ``runner.server`` (see :func:`start_guarded_server`).
    """

    def __init__(self, *, read_seconds: float, max_connections: int) -> None:
        self.read_seconds = read_seconds
        self.max_connections = max_connections
        self.open = 0
        self.refused = 0
        self.timed_out = 0
        self._busy = _busy_response(max_connections)

    def protocol_factory(self, make_inner: Callable[[], asyncio.Protocol]) -> Any:
        return lambda: _GuardedProtocol(make_inner(), self)


class _GuardedProtocol(asyncio.Protocol):
    """Forwards everything to aiohttp's protocol; adds the connection cap and the header
    deadline. The middleware tells it when a request's headers have been read."""

    def __init__(self, inner: asyncio.Protocol, guard: ConnectionGuard) -> None:
        self._inner = inner
        self._guard = guard
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._counted = False
        self._in_request = False
        self._partial = 0  # bytes of a request whose headers are not complete yet

    # --- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        guard = self._guard
        if guard.open >= guard.max_connections:
            guard.refused += 1
            logger.warning(
                "serve.connection_refused",
                reason="max_connections",
                max_connections=guard.max_connections,
                peer=_peer(transport),
            )
            transport.write(guard._busy)
            transport.close()
            return
        guard.open += 1
        self._counted = True
        self._transport = transport
        self._arm()
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if not self._counted:
            return
        if not self._in_request:
            self._partial += len(data)
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._counted else None

    def pause_writing(self) -> None:
        if self._counted:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._counted:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._counted:
            return
        self._counted = False
        self._guard.open -= 1
        self._disarm()
        self._inner.connection_lost(exc)

    # --- called by the middleware -------------------------------------------------------

    def request_started(self) -> None:
        self._in_request = True
        self._partial = 0
        self._disarm()

    def request_finished(self) -> None:
        self._in_request = False
        if self._counted:
            self._arm()

    # --- the deadline -------------------------------------------------------------------

    def _arm(self) -> None:
        self._disarm()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._guard.read_seconds, self._expired)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if self._transport is None or self._in_request:
            return
        if self._partial:
            self._guard.timed_out += 1
            logger.warning(
                "serve.connection_dropped",
                reason="headers_timeout",
                seconds=self._guard.read_seconds,
                bytes_received=self._partial,
                peer=_peer(self._transport),
            )
        # Otherwise an idle kept-alive connection: closing it is routine, not worth a line.
        self._transport.abort()


def body_deadline_middleware(read_seconds: float) -> Any:
    """Reads each request's body within ``read_seconds`` (408 and a closed connection when
    it does not arrive), and tells the :class:`ConnectionGuard` when requests start and end.

    Handlers then find the body already read (aiohttp keeps it for ``read()``/``json()``).
    """

    @web.middleware
    async def body_deadline(request: web.Request, handler: Handler) -> web.StreamResponse:
        transport = request.transport
        guarded = transport.get_protocol() if transport is not None else None
        if not isinstance(guarded, _GuardedProtocol):
            guarded = None
        if guarded is not None:
            guarded.request_started()
        try:
            if request.body_exists:
                try:
                    async with asyncio.timeout(read_seconds):
                        await request.read()
                except TimeoutError:
                    logger.warning(
                        "serve.request_dropped",
                        reason="body_timeout",
                        seconds=read_seconds,
                        method=request.method,
                        path=request.path,
                        peer=_peer(transport),
                    )
                    response = problem(
                        408, f"the request body did not arrive within {read_seconds:g} s"
                    )
                    response.force_close()
                    # No lingering read of the rest of a body that is not coming: answer,
                    # then close.
                    request.content.feed_eof()
                    return response
            return await handler(request)
        finally:
            if guarded is not None:
                guarded.request_finished()

    return body_deadline


async def start_guarded_server(
    runner: web.BaseRunner, host: str, port: int, guard: ConnectionGuard
) -> asyncio.Server:
    """Listen on ``host:port`` serving ``runner``'s application through ``guard``.

    The caller closes the returned server before ``runner.cleanup()``.
    """
    server = runner.server
    if server is None:
        raise RuntimeError("call runner.setup() first")
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        guard.protocol_factory(server),
        host,
        port,
        reuse_address=True,
        # A burst of CI jobs connects at once: a short accept queue drops their SYNs, and
        # each retry costs the client a second. The kernel caps it at somaxconn.
        backlog=guard.max_connections,
    )
