"""Authentication for the hosted API: a static token and, when configured, HMAC signatures.

Token: ``x-api-token: <token>`` or ``Authorization: Bearer <token>``, compared with
:func:`hmac.compare_digest`. Signature: ``x-timestamp`` (Unix seconds) and ``x-signature``, the
hex HMAC-SHA256 of ``"{timestamp}.{raw body bytes}"`` with ``LAMDIS_HMAC_SECRET``; required on
every request whenever the secret is set, valid for five minutes either side of now, and a
(timestamp, signature) pair is accepted once per instance within that window.

Every route except ``/health`` is protected. Failures are 401 problem responses that say what
was wrong, never what the right value would have been.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Awaitable, Callable, Mapping

import structlog
from aiohttp import web

from lamdis_http._problems import ProblemError

logger = structlog.get_logger()

SIGNATURE_WINDOW_SECONDS = 300
PUBLIC_PATHS = frozenset({"/health"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"{timestamp}.{body}"`` (what ``x-signature`` must carry)."""
    message = timestamp.encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signed_headers(
    secret: str, body: bytes, *, now: float | None = None, millis: bool = False
) -> dict[str, str]:
    """``x-timestamp`` and ``x-signature`` headers for ``body`` (used by clients and webhooks).

    Our own API clients sign with ``millis=True``: the service refuses a replayed (timestamp,
    signature) pair, and millisecond timestamps keep two identical requests sent within the
    same second apart. Webhooks keep seconds, the unit their receivers expect.
    """
    moment = now if now is not None else time.time()
    timestamp = str(int(moment * 1000)) if millis else str(int(moment))
    return {"x-timestamp": timestamp, "x-signature": signature(secret, timestamp, body)}


def auth_headers(token: str | None, secret: str | None, body: bytes = b"") -> dict[str, str]:
    """Everything a client of the hosted API must send for ``body``."""
    headers: dict[str, str] = {}
    if token:
        headers["x-api-token"] = token
    if secret:
        headers.update(signed_headers(secret, body, millis=True))
    return headers


class _ReplayGuard:
    """Remembers accepted (timestamp, signature) pairs until they leave the window.

    Per instance: behind a load balancer a replay could land on another instance within the
    window; the token and the short window still bound it (documented in the README).
    """

    def __init__(self, window: float) -> None:
        self._window = window
        self._seen: dict[tuple[str, str], float] = {}

    def accept(self, timestamp: str, sig: str, *, now: float) -> bool:
        if len(self._seen) > 1024:
            self._seen = {k: v for k, v in self._seen.items() if v > now}
        key = (timestamp, sig)
        expiry = self._seen.get(key)
        if expiry is not None and expiry > now:
            return False
        # Keep it until the timestamp itself can no longer pass the window check.
        self._seen[key] = float(timestamp_seconds(timestamp) or now) + self._window + 1
        return True


_TIMESTAMP = re.compile(r"[0-9]{1,16}(?:\.[0-9]{1,9})?")


def timestamp_seconds(value: str) -> float | None:
    """Unix seconds from ``x-timestamp`` (milliseconds are accepted too), or ``None``."""
    # ASCII digits only: float() also takes "inf", "1e999" and other scripts' digits, which
    # then break the window arithmetic or the ASCII signing string.
    if not _TIMESTAMP.fullmatch(value):
        return None
    number = float(value)
    if number <= 0:
        return None
    # 13-digit values are milliseconds (Date.now()); convert rather than reject.
    return number / 1000 if number > 100_000_000_000 else number


def _token_from(headers: Mapping[str, str]) -> str | None:
    token = headers.get("x-api-token")
    if token:
        return token
    authorization = headers.get("Authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def make_auth_middleware(
    *,
    token: str | None,
    hmac_secret: str | None,
    clock: Callable[[], float] = time.time,
) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """The auth middleware for the given credentials (either may be ``None``: not enforced)."""
    expected_token = token.encode("utf-8") if token else None
    guard = _ReplayGuard(SIGNATURE_WINDOW_SECONDS)

    @web.middleware
    async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in PUBLIC_PATHS:
            return await handler(request)
        if expected_token is not None:
            given = _token_from(request.headers)
            if given is None:
                raise ProblemError(
                    401,
                    "missing API token: send x-api-token or Authorization: Bearer <token>",
                )
            if not hmac.compare_digest(given.encode("utf-8"), expected_token):
                logger.warning("auth.bad_token", path=request.path)
                raise ProblemError(401, "invalid API token")
        if hmac_secret:
            await _check_signature(request, hmac_secret, guard, clock())
        return await handler(request)

    return auth_middleware


async def _check_signature(
    request: web.Request, secret: str, guard: _ReplayGuard, now: float
) -> None:
    timestamp = request.headers.get("x-timestamp", "").strip()
    sig = request.headers.get("x-signature", "").strip().lower()
    if not timestamp or not sig:
        raise ProblemError(
            401,
            "missing request signature: send x-timestamp (Unix seconds) and x-signature "
            "(hex HMAC-SHA256 of '{timestamp}.{raw body}')",
        )
    seconds = timestamp_seconds(timestamp)
    if seconds is None:
        raise ProblemError(401, "x-timestamp must be Unix time in seconds")
    if abs(now - seconds) > SIGNATURE_WINDOW_SECONDS:
        logger.warning("auth.stale_timestamp", path=request.path, skew_s=round(now - seconds))
        raise ProblemError(
            401, f"stale request: x-timestamp is more than {SIGNATURE_WINDOW_SECONDS} s from now"
        )
    body = await request.read()
    expected = signature(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode("ascii"), sig.encode("ascii", "replace")):
        logger.warning("auth.bad_signature", path=request.path)
        raise ProblemError(401, "invalid request signature")
    if not guard.accept(timestamp, sig, now=now):
        logger.warning("auth.replayed_request", path=request.path)
        raise ProblemError(401, "replayed request: this signature was already used")
