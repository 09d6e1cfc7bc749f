"""Host binding of secrets for catalog runs: a secret's value goes only to its hosts.

A catalog run's targets and requester are wrapped so that, before anything is sent, every
secret of :envvar:`LAMDIS_SECRET_HOSTS` whose value appears in the URL, the headers or the
body is checked against the destination host. The check looks at the outgoing values rather
than at the references that produced them, so it holds whatever path a value took (a header,
an auth file, a request step's result pasted into a later request).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from lamdis_core.config.env_policy import EnvPolicy, url_host
from lamdis_core.config.interpolation import interpolate_env
from lamdis_core.domain.config import Assistant
from lamdis_core.domain.errors import (
    ConfigError,
    ConfigProblem,
    LamdisError,
    RequestError,
    TargetError,
)
from lamdis_core.ports.requester import HttpCall, HttpResult, Requester
from lamdis_core.ports.target import AuthHeaders, Target, TargetFactory, TurnReply, TurnRequest

# Channels whose adapter sends the server's own credentials (OPENAI_API_KEY, the AWS keys) to
# the assistant's env.baseUrl when one is given: a catalog document must not choose that URL.
_SERVER_KEY_CHANNELS = {"openai_chat": "OPENAI_BASE", "bedrock_chat": "BEDROCK_ENDPOINT_URL"}


def _texts(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [json.dumps(value, ensure_ascii=False, default=str)]


class SecretGuard:
    """Wraps a catalog run's adapters so secrets reach only the hosts they are bound to.

    Args:
        policy: the operator's exposure and binding settings.
        env: the server's whole environment (where the secrets' values are read).
    """

    def __init__(self, policy: EnvPolicy, env: Mapping[str, str]) -> None:
        self.policy = policy
        self.env = env

    def refusal(self, url: str, *values: Any) -> str | None:
        texts = [text for value in values for text in _texts(value)]
        return self.policy.destination_refusal(self.env, url, texts)

    def requester(self, inner: Requester) -> Requester:
        return _GuardedRequester(inner, self)

    def target_factory(self, inner: TargetFactory) -> TargetFactory:
        return _GuardedTargetFactory(inner, self)


class _GuardedRequester:
    def __init__(self, inner: Requester, guard: SecretGuard) -> None:
        self._inner = inner
        self._guard = guard

    async def send(self, call: HttpCall) -> HttpResult:
        refusal = self._guard.refusal(
            call.url, dict(call.headers), dict(call.query), call.json, dict(call.form or {})
        )
        if refusal is not None:
            raise RequestError(refusal, retryable=False)
        return await self._inner.send(call)

    async def aclose(self) -> None:
        # The wrapped requester is the application's, shared by every run: it closes it.
        return None


class _GuardedTargetFactory:
    def __init__(self, inner: TargetFactory, guard: SecretGuard) -> None:
        self._inner = inner
        self._guard = guard
        self.channel = inner.channel

    def create(
        self, assistant: Assistant, auth_headers: AuthHeaders, env: Mapping[str, str]
    ) -> Target:
        url = ""
        if assistant.env.base_url:
            try:
                url = str(interpolate_env(assistant.env.base_url, env, strict=False))
            except LamdisError:
                url = ""  # the adapter's create reports the reference with its JSON path
        server_base = _SERVER_KEY_CHANNELS.get(assistant.env.channel)
        if server_base is not None and url:
            own = url_host(self._guard.env.get(server_base, ""))
            if url_host(url) != own:
                raise ConfigError(
                    [
                        ConfigProblem(
                            file=assistant.id,
                            json_path="$.env.baseUrl",
                            message=(
                                f"a catalog {assistant.env.channel} environment may not set "
                                f"baseUrl: the server's own credentials would be sent to "
                                f"{url_host(url) or url!r}; the server's {server_base} is used"
                            ),
                        )
                    ]
                )
        if url:
            headers = {}
            try:
                headers = interpolate_env(assistant.env.headers, env, strict=False)
            except LamdisError:
                headers = {}
            refusal = self._guard.refusal(url, headers)
            if refusal is not None:
                raise ConfigError([ConfigProblem(file=assistant.id, message=refusal)])
        guard = self._guard

        async def checked_auth_headers() -> Mapping[str, str]:
            headers = await auth_headers()
            refusal = guard.refusal(url, dict(headers)) if url else None
            if refusal is not None:
                raise TargetError(refusal, retryable=False)
            return headers

        inner = self._inner.create(assistant, checked_auth_headers, env)
        return _GuardedTarget(inner, url, guard) if url else inner

    async def aclose(self) -> None:
        # The wrapped factory is the application's, shared by every run: it closes it.
        return None


class _GuardedTarget:
    def __init__(self, inner: Target, url: str, guard: SecretGuard) -> None:
        self._inner = inner
        self._url = url
        self._guard = guard

    async def send(self, turn: TurnRequest) -> TurnReply:
        refusal = self._guard.refusal(self._url, turn.message, turn.transcript, turn.system)
        if refusal is not None:
            raise TargetError(refusal, retryable=False)
        return await self._inner.send(turn)

    async def aclose(self) -> None:
        await self._inner.aclose()
