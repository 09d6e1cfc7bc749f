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
                text = await resp.text()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiError(f"cannot reach {self.server}: {exc or type(exc).__name__}") from exc
        data: Any
        try:
            data = json.loads(text) if text else None
        except json.JSONDecodeError:
            data = text
        if status >= 400:
            detail = data.get("detail") if isinstance(data, dict) else None
            raise ApiError(f"{method} {path}: HTTP {status}: {detail or text[:200]}", status=status)
        return data
