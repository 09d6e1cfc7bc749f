"""Targets over HTTP. Entry point: ``lamdis.targets`` ``http_chat``."""

from __future__ import annotations

from collections.abc import Mapping

from lamdis_core.domain.errors import ConfigError, ConfigProblem
from lamdis_core.ports.target import TargetFactory

from lamdis_http._session import DEFAULT_POOL_LIMIT
from lamdis_http.targets.http_chat import HttpChatTarget, HttpChatTargetFactory

POOL_LIMIT_VAR = "LAMDIS_HTTP_POOL_LIMIT"

__all__ = ["HttpChatTarget", "HttpChatTargetFactory", "create_target_factory"]


def create_target_factory(env: Mapping[str, str]) -> TargetFactory:
    """The ``http_chat`` factory, configured from the environment.

    ``LAMDIS_HTTP_POOL_LIMIT`` caps the connections open at once (default 100).

    Raises:
        ConfigError: ``LAMDIS_HTTP_POOL_LIMIT`` is not a positive integer.
    """
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
    return HttpChatTargetFactory(pool_limit=limit)
