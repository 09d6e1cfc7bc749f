"""Factories for the configurable channels: one connection pool and one set of per-host
rate limits per channel, shared by every target (every assistant) of a run."""

from __future__ import annotations

from collections.abc import Mapping

from lamdis_core.domain.config import Assistant
from lamdis_core.ports.target import AuthHeaders, Target
from lamdis_core.ratelimit import HostLimits

from lamdis_http._session import DEFAULT_POOL_LIMIT, LazySession
from lamdis_http.targets._channel import ChannelSetup, ChannelTarget
from lamdis_http.targets.http_chat import HttpChatTargetFactory


class ChannelTargetFactory:
    """Makes ``target_class`` targets for ``channel``.

    Raises (from ``create``):
        ConfigError: a missing base URL, an unset ``${ENV}`` variable, a bad timeout.
    """

    def __init__(
        self,
        channel: str,
        target_class: type[ChannelTarget],
        *,
        pool_limit: int = DEFAULT_POOL_LIMIT,
        limits: HostLimits | None = None,
    ) -> None:
        self.channel = channel
        self._target_class = target_class
        self._session = LazySession(limit=pool_limit)
        self.limits = limits if limits is not None else HostLimits(maximum=pool_limit)

    def create(
        self, assistant: Assistant, auth_headers: AuthHeaders, env: Mapping[str, str]
    ) -> ChannelTarget:
        return self._target_class(
            setup=ChannelSetup(assistant, env, self.channel),
            session=self._session,
            limits=self.limits,
            auth_headers=auth_headers,
        )

    async def aclose(self) -> None:
        await self._session.aclose()


class HttpTargetFactory:
    """``http_chat``: the lamdis-runs contract, or the configured shape when the assistant
    declares ``request``, ``response`` or ``session``. Both share the per-host limits."""

    channel = "http_chat"

    def __init__(
        self, *, pool_limit: int = DEFAULT_POOL_LIMIT, limits: HostLimits | None = None
    ) -> None:
        from lamdis_http.targets.templated import TemplatedHttpTarget

        self.limits = limits if limits is not None else HostLimits(maximum=pool_limit)
        self._plain = HttpChatTargetFactory(pool_limit=pool_limit, limits=self.limits)
        self._templated = ChannelTargetFactory(
            "http_chat", TemplatedHttpTarget, pool_limit=pool_limit, limits=self.limits
        )

    def create(
        self, assistant: Assistant, auth_headers: AuthHeaders, env: Mapping[str, str]
    ) -> Target:
        if assistant.configurable:
            return self._templated.create(assistant, auth_headers, env)
        return self._plain.create(assistant, auth_headers, env)

    async def aclose(self) -> None:
        await self._plain.aclose()
        await self._templated.aclose()
