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
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web
from lamdis_core.logs import get_logger

from lamdis_http._problems import ProblemError

logger = get_logger()

SIGNATURE_WINDOW_SECONDS = 300
PUBLIC_PATHS = frozenset({"/health"})


def is_ui_path(path: str) -> bool:
    """Paths of the hosted UI (``/ui/``): it checks its own session cookie, not the token."""
    return path == "/ui" or path.startswith("/ui/")


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

    Each pair is filed under the whole second it expires in, and every call first drops the
    seconds that have passed: a pair is filed once and dropped once, so a request costs O(1)
    amortised however many pairs are live (scanning them all per request made a busy signed
    API quadratic).
    """

    def __init__(self, window: float) -> None:
        self._window = window
        self._seen: dict[tuple[str, str], float] = {}
        self._expiring: dict[int, list[tuple[str, str]]] = {}
        self._swept_to: int | None = None  # every second below it has been dropped
        self.examined = 0  # pairs looked at while dropping (the tests count the work)

    def __len__(self) -> int:
        return len(self._seen)

    def accept(self, timestamp: str, sig: str, *, now: float) -> bool:
        self._sweep(now)
        key = (timestamp, sig)
        expiry = self._seen.get(key)
        if expiry is not None and expiry > now:
            return False
        # Keep it until the timestamp itself can no longer pass the window check.
        expiry = float(timestamp_seconds(timestamp) or now) + self._window + 1
        self._seen[key] = expiry
        second = max(math.ceil(expiry), self._swept_to or 0)
        self._expiring.setdefault(second, []).append(key)
        return True

    def _sweep(self, now: float) -> None:
        current = math.floor(now)
        start = self._swept_to if self._swept_to is not None else current
        if current < start:
            return
        if current - start + 1 > len(self._expiring):  # idle for long: visit what is filed
            seconds = sorted(s for s in self._expiring if s <= current)
        else:
            seconds = list(range(start, current + 1))
        for second in seconds:
            for key in self._expiring.pop(second, ()):
                self.examined += 1
                # a pair accepted again after it expired is filed under a later second too
                if self._seen.get(key, math.inf) <= second:
                    del self._seen[key]
        self._swept_to = current + 1


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
        if request.path in PUBLIC_PATHS or is_ui_path(request.path):
            # The UI checks its own signed session cookie (a browser sends no token header
            # and cannot sign requests); see lamdis_http.ui.web.
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
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        # aiohttp hands handlers the body decompressed; a signature checked over that would
        # not be over the bytes the client sent. Refused rather than checked over the wrong
        # bytes.
        raise ProblemError(
            415,
            f"Content-Encoding {encoding!r} is not accepted on signed requests: the signature "
            "covers the raw body bytes; send the body uncompressed",
        )
    body = await request.read()
    expected = signature(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode("ascii"), sig.encode("ascii", "replace")):
        logger.warning("auth.bad_signature", path=request.path)
        raise ProblemError(401, "invalid request signature")
    if not guard.accept(timestamp, sig, now=now):
        logger.warning("auth.replayed_request", path=request.path)
        raise ProblemError(401, "replayed request: this signature was already used")
