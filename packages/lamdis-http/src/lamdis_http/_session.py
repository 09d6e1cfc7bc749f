"""One pooled ``aiohttp.ClientSession``, created on first use inside the running loop.

The http_chat target factory and the requester each own one. Creating the session lazily
matters: a ``ClientSession`` binds to the loop that is running when it is made, and the
composition root builds adapters before any loop runs (the CLI) or outside the request loop.
"""

from __future__ import annotations

import asyncio

import aiohttp
from lamdis_core.logs import get_logger
from lamdis_core.masking import redact_url
from yarl import URL

from lamdis_http._secret_guard import request_trace

logger = get_logger()

DEFAULT_POOL_LIMIT = 100


class LazySession:
    """Holds at most one open session; ``get`` makes it, ``aclose`` closes it.

    Args:
        limit: total simultaneous connections in the pool.
        limit_per_host: simultaneous connections per host (0: no per-host cap).
    """

    def __init__(self, *, limit: int = DEFAULT_POOL_LIMIT, limit_per_host: int = 0) -> None:
        self._limit = limit
        self._limit_per_host = limit_per_host
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._finishing: set[asyncio.Task[None]] = set()

    def get(self) -> aiohttp.ClientSession:
        """The open session, made now if there is none (must be called inside a running loop)."""
        loop = asyncio.get_running_loop()
        session = self._session
        if session is not None and not session.closed and self._loop is loop:
            return session
        if session is not None and not session.closed:
            # A session cannot be used or closed from another loop; this happens only when one
            # adapter instance is reused across asyncio.run() calls (tests, notebooks).
            logger.warning("http_session_abandoned", reason="event loop changed")
        connector = aiohttp.TCPConnector(limit=self._limit, limit_per_host=self._limit_per_host)
        # Transcripts and request bodies are ours to encode; no cookies leak between tests.
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            raise_for_status=False,
            # Catalog runs: a secret goes only to the hosts it is bound to (a no-op elsewhere).
            trace_configs=[request_trace()],
        )
        self._loop = loop
        return self._session

    @property
    def is_open(self) -> bool:
        return self._session is not None and not self._session.closed

    def finish(self, response: aiohttp.ClientResponse) -> None:
        """Read the rest of ``response`` in the background, then give its connection back to
        the pool. For a streamed answer whose reply is complete before the server has ended
        the response (an SSE ``[DONE]`` before the closing chunk): releasing it now would
        close the connection and cost the next request a new one (a TLS handshake, too).
        A response that does not end within a second, or goes on for more than 64 KiB, is
        closed instead."""
        task = asyncio.get_running_loop().create_task(_finish(response))
        self._finishing.add(task)
        task.add_done_callback(self._finishing.discard)

    async def aclose(self) -> None:
        """Close the session and its pool. Safe to call twice, or when nothing was opened."""
        loop = asyncio.get_running_loop()
        # A task of a loop that has ended (a session reused across asyncio.run) is done.
        finishing = [task for task in self._finishing if task.get_loop() is loop]
        for task in finishing:
            task.cancel()
        await asyncio.gather(*finishing, return_exceptions=True)
        session, self._session, self._loop = self._session, None, None
        if session is not None and not session.closed:
            await session.close()


_FINISH_S = 1.0
_FINISH_BYTES = 65536


async def _finish(response: aiohttp.ClientResponse) -> None:
    try:
        async with asyncio.timeout(_FINISH_S):
            left = _FINISH_BYTES
            while left > 0 and (data := await response.content.readany()):
                left -= len(data)
    except (TimeoutError, aiohttp.ClientError, OSError):
        pass
    finally:
        if response.content.at_eof():
            response.release()
        else:
            response.close()


def safe_url(url: str | URL) -> str:
    """The URL as it may appear in messages and logs: see :func:`lamdis_core.masking.redact_url`."""
    return redact_url(str(url))


def excerpt(body: bytes | str, limit: int = 200) -> str:
    """A short, single-line excerpt of a response body for an error message."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    text = " ".join(text.split())
    if not text:
        return "<empty body>"
    return text if len(text) <= limit else text[: limit - 1] + "…"
