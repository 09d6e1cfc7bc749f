"""Turns auth configs into request headers, fetching OAuth tokens through the Requester."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import attrs

from lamdis_core.config.interpolation import interpolate, interpolate_env
from lamdis_core.domain.base import Record
from lamdis_core.domain.config import AuthConfig, OAuthClientCredentials, PatternAuth, StaticAuth
from lamdis_core.domain.errors import InterpolationError, RequestError
from lamdis_core.logs import get_logger
from lamdis_core.ports.clock import Clock
from lamdis_core.ports.requester import HttpCall, Requester

logger = get_logger()

# Refresh a little before the server's expiry so a token never dies mid-request.
_EXPIRY_MARGIN_S = 30.0
_DEFAULT_TOKEN_TTL_S = 300.0


@attrs.define(repr=False, eq=False)
class _CachedToken(Record):
    value: str
    expires_at: float


class AuthResolver:
    """Headers for the auth configs of one run; OAuth tokens are cached until they expire.

    One resolver serves a whole run, so concurrent tests share one token fetch.
    """

    def __init__(self, requester: Requester, env: Mapping[str, str], clock: Clock) -> None:
        self._requester = requester
        self._env = env
        self._clock = clock
        self._tokens: dict[tuple[str, str, str], _CachedToken] = {}
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}
        # Every credential this resolver produced, so the run can mask it wherever a
        # server echoes it back.
        self.issued: set[str] = set()

    def named_values(self, auth: AuthConfig | None) -> dict[str, str]:
        """The names a pattern auth defines (``AUTH_TOKEN``...), for use in other headers.

        Names whose environment variable is unset are left out, so a later reference to
        them fails with the variable's name.
        """
        if not isinstance(auth, PatternAuth):
            return {}
        values: dict[str, str] = {}
        for name, raw in auth.env.items():
            try:
                values[name] = interpolate_env(
                    raw, self._env, strict=True, where=f"auth {auth.id} env.{name}"
                )
            except InterpolationError:
                continue
        self.issued.update(values.values())
        return values

    async def headers(self, auth: AuthConfig | None) -> dict[str, str]:
        """The headers to send for ``auth`` (none for ``None``).

        Raises:
            InterpolationError: a ``${VAR}`` the auth needs is not set.
            RequestError: the OAuth token endpoint failed or answered without a token.
        """
        headers = await self._headers(auth)
        self.issued.update(headers.values())
        return headers

    async def _headers(self, auth: AuthConfig | None) -> dict[str, str]:
        if auth is None:
            return {}
        if isinstance(auth, StaticAuth):
            headers: dict[str, str] = interpolate_env(
                auth.headers, self._env, strict=True, where=f"auth {auth.id} headers"
            )
            return headers
        if isinstance(auth, PatternAuth):
            values = {
                name: interpolate_env(
                    raw, self._env, strict=True, where=f"auth {auth.id} env.{name}"
                )
                for name, raw in auth.env.items()
            }
            value = interpolate(
                auth.pattern.template,
                {},
                strict=True,
                env={**self._env, **values},
                where=f"auth {auth.id} pattern.template",
            )
            return {auth.pattern.header: str(value)}
        token = await self._oauth_token(auth)
        scheme = "Bearer " if auth.apply.type.lower() == "bearer" else ""
        return {auth.apply.header: f"{scheme}{token}"}

    async def _oauth_token(self, auth: OAuthClientCredentials) -> str:
        client_id = interpolate_env(auth.client_id, self._env, where=f"auth {auth.id} clientId")
        key = (auth.id, auth.token_url, client_id)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(key)
            if cached and cached.expires_at > self._clock.monotonic():
                return cached.value
            token, ttl = await self._fetch_token(auth, client_id)
            if auth.cache_ttl_seconds is not None:
                ttl = min(ttl, float(auth.cache_ttl_seconds))
            self._tokens[key] = _CachedToken(
                token, self._clock.monotonic() + max(0.0, ttl - _EXPIRY_MARGIN_S)
            )
            return token

    async def _fetch_token(self, auth: OAuthClientCredentials, client_id: str) -> tuple[str, float]:
        where = f"auth {auth.id}"
        form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": interpolate_env(
                auth.client_secret, self._env, where=f"{where} clientSecret"
            ),
        }
        if auth.scopes:
            form["scope"] = " ".join(auth.scopes)
        if auth.audience:
            form["audience"] = interpolate_env(auth.audience, self._env, where=f"{where} audience")
        url = interpolate_env(auth.token_url, self._env, where=f"{where} tokenUrl")
        result = await self._requester.send(HttpCall(method="POST", url=url, form=form))
        if not result.ok:
            raise RequestError(
                f"OAuth token request for {auth.id} to {url} returned HTTP {result.status}",
                status=result.status,
            )
        body = result.body if isinstance(result.body, dict) else {}
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise RequestError(f"OAuth token response for {auth.id} from {url} has no access_token")
        expires_in = body.get("expires_in")
        ttl = (
            float(expires_in)
            if isinstance(expires_in, int | float) and expires_in > 0
            else _DEFAULT_TOKEN_TTL_S
        )
        logger.debug("oauth token fetched", auth=auth.id, ttl_s=ttl)
        return token, ttl
