"""The Requester port on aiohttp: ``request`` steps and OAuth token fetches."""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp
from lamdis_core.domain.errors import RequestError
from lamdis_core.logs import get_logger
from lamdis_core.ports.requester import HttpCall, HttpResult
from lamdis_core.sanitize import MAX_JSON_DEPTH, TooDeepError, loads_bounded

from lamdis_http._session import DEFAULT_POOL_LIMIT, LazySession, safe_url

logger = get_logger()

MAX_REDIRECTS = 5
"""Redirects followed for one call; an API that needs more is misconfigured or looping."""


class AiohttpRequester:
    """Performs :class:`HttpCall` s over one pooled session, made on first use.

    Differences from a bare ``aiohttp`` call that callers rely on:

    - ``HttpResult.headers`` has lower-case names; repeated headers are joined with ``", "``.
    - ``HttpResult.body`` is the parsed JSON when the response says it is JSON
      (``application/json`` or ``+json``) and parses; otherwise the text. An empty JSON
      body is ``None``.
    - ``json`` wins over ``form`` when a call sets both (a call is built from one or the other).

    Args:
        pool_limit: the most connections open at once.
    """

    def __init__(self, *, pool_limit: int = DEFAULT_POOL_LIMIT) -> None:
        self._session = LazySession(limit=pool_limit)

    async def send(self, call: HttpCall) -> HttpResult:
        """Perform ``call``; see the Requester port for the errors."""
        method = call.method.upper()
        where = f"{method} {safe_url(call.url)}"
        kwargs: dict[str, Any] = {}
        if call.json is not None:
            kwargs["json"] = call.json
        elif call.form is not None:
            kwargs["data"] = call.form
        session = self._session.get()
        started = time.perf_counter()
        try:
            async with session.request(
                method,
                call.url,
                headers=call.headers,
                params=call.query or None,
                timeout=aiohttp.ClientTimeout(total=call.timeout_s),
                max_redirects=MAX_REDIRECTS,
                **kwargs,
            ) as response:
                raw = await response.read()
                status = response.status
                headers = _headers(response)
                charset = response.charset or "utf-8"
        except TimeoutError as exc:
            raise RequestError(
                f"{where}: no response within {call.timeout_s:g} s", retryable=True
            ) from exc
        except aiohttp.InvalidURL as exc:
            raise RequestError(
                f"{where}: not a valid URL; check base_url/path/full_url in the requests file"
            ) from exc
        except ValueError as exc:
            # aiohttp refuses a request it cannot build (credentials both in the URL and in an
            # Authorization header, a newline in a header); its messages name no header value.
            raise RequestError(f"{where}: the request could not be built: {exc}") from exc
        except aiohttp.TooManyRedirects as exc:
            raise RequestError(
                f"{where}: still redirected after {MAX_REDIRECTS} redirects (last to "
                f"{safe_url(exc.request_info.real_url)}); check the URL in the requests file"
            ) from exc
        except aiohttp.ClientError as exc:
            # ClientConnectionError and ClientPayloadError both mean the response never
            # arrived whole; a later attempt may succeed.
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise RequestError(f"{where}: could not connect ({reason})", retryable=True) from exc
        latency_ms = (time.perf_counter() - started) * 1000
        try:
            body = _decode(raw, headers.get("content-type", ""), charset)
        except TooDeepError as exc:
            raise RequestError(
                f"{where} answered HTTP {status} with JSON nested deeper than {MAX_JSON_DEPTH} "
                "levels; lamdis does not read results that deep"
            ) from exc
        logger.debug(
            "http_request_done", method=method, status=status, latency_ms=round(latency_ms, 1)
        )
        return HttpResult(status=status, headers=headers, body=body, latency_ms=latency_ms)

    async def aclose(self) -> None:
        """Close the session and its connections. Safe to call twice."""
        await self._session.aclose()


def _headers(response: aiohttp.ClientResponse) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in response.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def _is_json(content_type: str) -> bool:
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime == "application/json" or mime.endswith("+json")


def _decode(raw: bytes, content_type: str, charset: str) -> Any:
    try:
        text = raw.decode(charset, errors="replace")
    except LookupError:  # a charset Python does not know
        text = raw.decode("utf-8", errors="replace")
    if not _is_json(content_type):
        return text
    if not text.strip():
        return None
    try:
        return loads_bounded(text)
    except json.JSONDecodeError:
        # The caller sees the text and decides; a lying content-type is not a transport error.
        return text
