"""Targets over HTTP. Entry points (``lamdis.targets``): ``http_chat``, ``sse``, ``websocket``."""

from __future__ import annotations

from collections.abc import Mapping

from lamdis_core.domain.errors import ConfigError, ConfigProblem
from lamdis_core.ports.target import TargetFactory
from lamdis_core.ratelimit import HostLimits

from lamdis_http._session import DEFAULT_POOL_LIMIT
from lamdis_http.targets._factory import ChannelTargetFactory, HttpTargetFactory
from lamdis_http.targets.http_chat import HttpChatTarget, HttpChatTargetFactory

POOL_LIMIT_VAR = "LAMDIS_HTTP_POOL_LIMIT"
HOST_LIMIT_VAR = "LAMDIS_HOST_LIMIT"

__all__ = [
    "ChannelTargetFactory",
    "HttpChatTarget",
    "HttpChatTargetFactory",
    "HttpTargetFactory",
    "create_sse_factory",
    "create_target_factory",
    "create_websocket_factory",
]


def _pool_limit(env: Mapping[str, str]) -> int:
    raw = env.get(POOL_LIMIT_VAR)
    limit = DEFAULT_POOL_LIMIT
    if raw:
        try:
            limit = int(raw)
        except ValueError:
            limit = 0
        if limit <= 0:
            raise ConfigError(
                [
                    ConfigProblem(
                        file=None,
                        message=f"{POOL_LIMIT_VAR} must be a positive integer, got {raw!r}",
                    )
                ]
            )
    return limit


def _host_limits(env: Mapping[str, str], pool_limit: int) -> HostLimits:
    raw = env.get(HOST_LIMIT_VAR, "adaptive").strip().lower() or "adaptive"
    if raw not in ("adaptive", "off"):
        raise ConfigError(
            [
                ConfigProblem(
                    file=None, message=f"{HOST_LIMIT_VAR} must be adaptive or off, got {raw!r}"
                )
            ]
        )
    return HostLimits(enabled=raw == "adaptive", maximum=pool_limit)


def create_target_factory(env: Mapping[str, str]) -> TargetFactory:
    """The ``http_chat`` factory, configured from the environment.

    ``LAMDIS_HTTP_POOL_LIMIT`` caps the connections open at once (default 100), and is the
    most any host's adaptive concurrency limit grows to. ``LAMDIS_HOST_LIMIT=off`` turns the
    adaptive per-host limit off (429s are still retried as their ``Retry-After`` says).

    Raises:
        ConfigError: ``LAMDIS_HTTP_POOL_LIMIT`` is not a positive integer, or
            ``LAMDIS_HOST_LIMIT`` is neither ``adaptive`` nor ``off``.
    """
    pool_limit = _pool_limit(env)
    return HttpTargetFactory(pool_limit=pool_limit, limits=_host_limits(env, pool_limit))


def create_sse_factory(env: Mapping[str, str]) -> TargetFactory:
    """The ``sse`` factory (environment as for ``http_chat``)."""
    from lamdis_http.targets.sse import SseTarget

    pool_limit = _pool_limit(env)
    return ChannelTargetFactory(
        "sse", SseTarget, pool_limit=pool_limit, limits=_host_limits(env, pool_limit)
    )


def create_websocket_factory(env: Mapping[str, str]) -> TargetFactory:
    """The ``websocket`` factory (environment as for ``http_chat``)."""
    from lamdis_http.targets.websocket import WebSocketTarget

    pool_limit = _pool_limit(env)
    return ChannelTargetFactory(
        "websocket", WebSocketTarget, pool_limit=pool_limit, limits=_host_limits(env, pool_limit)
    )
