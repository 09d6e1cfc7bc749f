"""Host binding of secrets for catalog runs: a secret's value goes only to its hosts.

A catalog run's targets and requester are wrapped so that, before anything is sent, every
secret of :envvar:`LAMDIS_SECRET_HOSTS` whose value appears in the URL, the headers or the
body is checked against the destination host. The check looks at the outgoing values rather
than at the references that produced them, so it holds whatever path a value took (a header,
an auth file, a request step's result pasted into a later request).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any

import aiohttp
from lamdis_core.config.env_policy import EnvPolicy, url_host
from lamdis_core.config.interpolation import env_references, interpolate_env
from lamdis_core.domain.config import Assistant
from lamdis_core.domain.convert import default_converter
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
# (endpoint setting, key setting (None: credentials may come from elsewhere), default URL)
_SERVER_KEY_CHANNELS: dict[str, tuple[str, str | None, str]] = {
    "openai_chat": ("OPENAI_BASE", "OPENAI_API_KEY", "https://api.openai.com/v1"),
    "bedrock_chat": ("BEDROCK_ENDPOINT_URL", None, "https://bedrock-runtime.amazonaws.com"),
}


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

    def refusal(
        self, url: str, *values: Any, referenced: frozenset[str] = frozenset()
    ) -> str | None:
        """Why a request to ``url`` carrying ``values`` may not be sent (``None``: it may).

        ``referenced``: bound secrets the sender's configuration reads; the host must be
        bound for each, whether or not this request carries it.
        """
        host = url_host(url)
        for name in sorted(referenced):
            if not self.policy.host_allowed(name, host):
                hosts = ", ".join(self.policy.secret_hosts[name])
                return (
                    f"environment variable {name} (read by this assistant's configuration) may "
                    f"be sent only to {hosts} (LAMDIS_SECRET_HOSTS); this request goes to host "
                    f"{host or url!r}: not sent"
                )
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
        # Checked here, body included; a target's wire check (an OAuth token fetch made while
        # a turn is sent) does not apply to it.
        token = _ACTIVE_CHECK.set(None)
        try:
            return await self._inner.send(call)
        finally:
            _ACTIVE_CHECK.reset(token)

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
        guard = self._guard
        # The bound secrets this assistant's own configuration reads, wherever (base URL,
        # headers, request and session templates): its requests may go only to their hosts,
        # whatever a template or a reply makes of the URL.
        data = default_converter().unstructure(assistant)
        referenced = frozenset(env_references(data)) & set(guard.policy.secret_hosts)
        channel = assistant.env.channel
        if channel in _SERVER_KEY_CHANNELS:
            self._check_server_key_channel(assistant, env, referenced)

        def check(url: str, headers: Mapping[str, str]) -> str | None:
            return guard.refusal(url, dict(headers), referenced=referenced)

        inner = self._inner.create(assistant, auth_headers, env)
        return _GuardedTarget(inner, check)

    def _check_server_key_channel(
        self, assistant: Assistant, env: Mapping[str, str], referenced: frozenset[str]
    ) -> None:
        # These adapters talk through their SDKs (not the wire check below): their destination
        # is the server's endpoint unless the document names one.
        channel = assistant.env.channel
        server_base, key_name, default_url = _SERVER_KEY_CHANNELS[channel]
        url = self._guard.env.get(server_base, "") or default_url
        if assistant.env.base_url:
            try:
                url = str(interpolate_env(assistant.env.base_url, env, strict=False))
            except LamdisError:
                return  # the adapter's create reports the reference with its JSON path
            own = url_host(self._guard.env.get(server_base, "") or default_url)
            holds_key = key_name is None or bool(self._guard.env.get(key_name, "").strip())
            if holds_key and url_host(url) != own:
                raise ConfigError(
                    [
                        ConfigProblem(
                            file=assistant.id,
                            json_path="$.env.baseUrl",
                            message=(
                                f"a catalog {channel} environment may not set baseUrl: the "
                                f"server's own credentials would be sent to "
                                f"{url_host(url) or url!r}; the server's {server_base} is used"
                            ),
                        )
                    ]
                )
        refusal = self._guard.refusal(url, referenced=referenced)
        if refusal is not None:
            raise ConfigError([ConfigProblem(file=assistant.id, message=refusal)])

    async def aclose(self) -> None:
        # The wrapped factory is the application's, shared by every run: it closes it.
        return None


class _GuardedTarget:
    """Runs the wrapped target with its check active, so every HTTP request or WebSocket it
    opens through a :class:`~lamdis_http._session.LazySession` is checked before it is sent."""

    def __init__(self, inner: Target, check: RequestCheck) -> None:
        self._inner = inner
        self._check = check

    async def send(self, turn: TurnRequest) -> TurnReply:
        token = _ACTIVE_CHECK.set(self._check)
        try:
            return await self._inner.send(turn)
        finally:
            _ACTIVE_CHECK.reset(token)

    async def aclose(self) -> None:
        token = _ACTIVE_CHECK.set(self._check)  # closing may send a request (session close)
        try:
            await self._inner.aclose()
        finally:
            _ACTIVE_CHECK.reset(token)


RequestCheck = Callable[[str, Mapping[str, str]], "str | None"]

_ACTIVE_CHECK: ContextVar[RequestCheck | None] = ContextVar("lamdis_secret_check", default=None)


class SecretRefused(TargetError):
    """A request would have carried a secret to a host it is not bound to; nothing was sent."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


def request_trace() -> aiohttp.TraceConfig:
    """A trace that refuses, before connecting, a request the active check refuses.

    Installed on every :class:`~lamdis_http._session.LazySession`; it does nothing outside a
    guarded target's ``send``.
    """

    async def on_request_start(
        session: aiohttp.ClientSession,
        context: Any,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        check = _ACTIVE_CHECK.get()
        if check is None:
            return
        refusal = check(str(params.url), {k: str(v) for k, v in params.headers.items()})
        if refusal is not None:
            raise SecretRefused(refusal)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    return trace
