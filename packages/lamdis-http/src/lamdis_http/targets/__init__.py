"""Targets over HTTP. Entry points (``lamdis.targets``): ``http_chat``, ``sse``, ``websocket``."""

from __future__ import annotations

from collections.abc import Mapping

from lamdis_core.domain.errors import ConfigError, ConfigProblem
from lamdis_core.ports.target import TargetFactory

from lamdis_http._session import DEFAULT_POOL_LIMIT
from lamdis_http.targets._factory import ChannelTargetFactory, HttpTargetFactory
from lamdis_http.targets.http_chat import HttpChatTarget, HttpChatTargetFactory

POOL_LIMIT_VAR = "LAMDIS_HTTP_POOL_LIMIT"

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


def create_target_factory(env: Mapping[str, str]) -> TargetFactory:
    """The ``http_chat`` factory, configured from the environment.

    ``LAMDIS_HTTP_POOL_LIMIT`` caps the connections open at once (default 100), and is the
    most any host's adaptive concurrency limit grows to.

    Raises:
        ConfigError: ``LAMDIS_HTTP_POOL_LIMIT`` is not a positive integer.
    """
    return HttpTargetFactory(pool_limit=_pool_limit(env))


def create_sse_factory(env: Mapping[str, str]) -> TargetFactory:
    """The ``sse`` factory (``LAMDIS_HTTP_POOL_LIMIT`` as for ``http_chat``)."""
    from lamdis_http.targets.sse import SseTarget

    return ChannelTargetFactory("sse", SseTarget, pool_limit=_pool_limit(env))


def create_websocket_factory(env: Mapping[str, str]) -> TargetFactory:
    """The ``websocket`` factory (``LAMDIS_HTTP_POOL_LIMIT`` as for ``http_chat``)."""
    from lamdis_http.targets.websocket import WebSocketTarget

    return ChannelTargetFactory("websocket", WebSocketTarget, pool_limit=_pool_limit(env))
