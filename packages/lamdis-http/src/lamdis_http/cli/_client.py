"""A small client of the hosted API for ``lamdis wait`` and ``lamdis runs``.

Sends ``LAMDIS_API_TOKEN`` as ``x-api-token`` and, when ``LAMDIS_HMAC_SECRET`` is set, signs
each request (``x-timestamp`` + ``x-signature``) exactly as the server expects.
"""

from __future__ import annotations

import json
import os
from typing import Any

DEFAULT_SERVER = "http://127.0.0.1:3101"


class ApiError(Exception):
    """The server answered with an error (``status``) or could not be reached (``status=None``)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NotLamdisError(ApiError):
    """The server answered, but not as a lamdis service would (not JSON, or not a run)."""


def describe_answer(status: int, content_type: str, body: bytes | str) -> str:
    """``HTTP 200, content-type text/html, body starts '<!doctype html>...'``: what a server
    that is not lamdis sent, so the user can tell which one it is."""
    raw = body.encode("utf-8", "replace") if isinstance(body, str) else body
    start = raw[:80].decode("utf-8", "replace")
    more = "..." if len(raw) > 80 else ""
    return (
        f"HTTP {status}, content-type {content_type or 'none'}, body starts {start!r}{more}"
        if raw
        else f"HTTP {status}, content-type {content_type or 'none'}, empty body"
    )


def default_server() -> str:
    return os.environ.get("LAMDIS_SERVER", "").strip() or DEFAULT_SERVER


class ApiClient:
    """Calls the hosted API at ``server``; use as an async context manager."""

    def __init__(self, server: str, *, token: str | None = None, secret: str | None = None) -> None:
        self.server = server.rstrip("/")
        self.token = token if token is not None else (os.environ.get("LAMDIS_API_TOKEN") or None)
        self.secret = (
            secret if secret is not None else (os.environ.get("LAMDIS_HMAC_SECRET") or None)
        )
        self._session: Any = None

    async def __aenter__(self) -> ApiClient:
        import aiohttp

        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._session.close()

    async def request(
        self, method: str, path: str, *, body: Any = None, params: dict[str, str] | None = None
    ) -> Any:
        import aiohttp

        from lamdis_http._auth import auth_headers

        raw = b"" if body is None else json.dumps(body).encode("utf-8")
        headers = auth_headers(self.token, self.secret, raw)
        if body is not None:
            headers["content-type"] = "application/json"
        url = self.server + path
        try:
            async with self._session.request(
                method, url, data=raw or None, headers=headers, params=params
            ) as resp:
                raw_body = await resp.read()
                status = resp.status
                content_type = resp.headers.get("content-type", "")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiError(f"cannot reach {self.server}: {exc or type(exc).__name__}") from exc
        text = raw_body.decode("utf-8", "replace")
        data: Any
        try:
            data = json.loads(text) if text else None
        except json.JSONDecodeError:
            data = text
        # lamdis answers JSON (or problem+json) everywhere. A web page, a proxy's error page
        # or another API means the URL is wrong: say what answered instead of retrying.
        # 5xx pages may be a proxy in front of a lamdis that is starting: those stay errors
        # to retry.
        is_json = "json" in content_type.lower() and not isinstance(data, str)
        if not is_json and status < 500:
            raise NotLamdisError(
                f"{self.server} does not look like a lamdis service: {method} {path} answered "
                f"{describe_answer(status, content_type, raw_body)}",
                status=status,
            )
        if status >= 400:
            detail = data.get("detail") if isinstance(data, dict) else None
            raise ApiError(f"{method} {path}: HTTP {status}: {detail or text[:200]}", status=status)
        return data
