"""The ``openai_chat`` target: a bare model with a system prompt as the assistant under test."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from lamdis_core.config.interpolation import interpolate_env
from lamdis_core.domain.config import Assistant
from lamdis_core.domain.errors import ConfigError, ConfigProblem, InterpolationError, TargetError
from lamdis_core.llm import Completion, assistant_headers, model_turn, turn_messages
from lamdis_core.ports.target import AuthHeaders, TurnReply, TurnRequest, traceparent
from lamdis_core.ratelimit import THROTTLING_STATUSES, AdaptiveLimit, HostLimits

from lamdis_judge_openai._chat import OpenAIChatModel
from lamdis_judge_openai._settings import OpenAISettings, normalise_base_url

CHANNEL = "openai_chat"


class OpenAIChatTarget:
    """Sends each turn as a streamed Chat Completions request: ``env.systemPrompt``, the
    transcript, then the user's message; records the time to the first token, the chunk count
    and any tool calls. Never retries (the engine owns retries).

    Like the HTTP channels, each turn carries a W3C ``traceparent`` in the conversation's trace
    (an OpenAI-compatible assistant API can continue it), and the turn's span is described by
    the HTTP request the SDK made (see :meth:`OpenAIChatModel.stream`)."""

    def __init__(
        self,
        chat: OpenAIChatModel,
        *,
        assistant: Assistant,
        model: str,
        auth_headers: AuthHeaders,
        headers: Mapping[str, str],
        limit: AdaptiveLimit | None = None,
    ) -> None:
        self.assistant = assistant
        self._limit = limit or AdaptiveLimit()
        self.model = model
        self._chat = chat
        self._auth_headers = auth_headers
        self._headers = dict(headers)
        self._timeout = assistant.env.timeout_ms / 1000

    async def send(self, turn: TurnRequest) -> TurnReply:
        messages = turn_messages(turn, system_prompt=self.assistant.env.system_prompt)
        headers = {**self._headers, **(await self._auth_headers())}
        if turn.conversation_id:
            headers["traceparent"] = traceparent(turn.conversation_id, secrets.token_hex(8))
        # The server's adaptive limit, shared by the targets of this base URL; the engine
        # keeps the wait off the turn's clock.
        async with self._limit.slot() as slot:
            try:
                return await self._turn(messages, headers)
            except TargetError as exc:
                if exc.status in THROTTLING_STATUSES:
                    slot.throttled(exc.retry_after)
                raise

    async def _turn(self, messages: Any, headers: Mapping[str, str]) -> TurnReply:
        return await model_turn(
            lambda: self._chat.stream(
                messages,
                model=self.model,
                temperature=self.assistant.env.temperature,
                request_timeout=self._timeout,
                extra_headers=headers,
            ),
            channel=CHANNEL,
            assistant=self.assistant.id,
            timeout_s=self._timeout,
            raw=_raw_response,
        )

    async def aclose(self) -> None:
        # The client belongs to the factory's pool.
        return None


def _raw_response(completion: Completion) -> Any:
    raw = completion.raw
    return raw.model_dump(mode="json") if hasattr(raw, "model_dump") else raw


class OpenAIChatTargetFactory:
    """Builds :class:`OpenAIChatTarget` s; targets with the same base URL and key share one client.

    The model is ``env.model`` of the assistant, else ``OPENAI_MODEL``; the base URL is
    ``env.baseUrl``, else ``OPENAI_BASE``; the key is ``OPENAI_API_KEY``.
    """

    channel = CHANNEL

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = dict(env)
        self._clients: dict[tuple[str, str | None], OpenAIChatModel] = {}
        self._limits = HostLimits()

    def create(
        self, assistant: Assistant, auth_headers: AuthHeaders, env: Mapping[str, str]
    ) -> OpenAIChatTarget:
        merged = {**self._env, **env}
        base_url = assistant.env.base_url
        if base_url:
            try:
                base_url = str(interpolate_env(base_url, merged, strict=True))
            except InterpolationError as exc:
                raise ConfigError(
                    [ConfigProblem(file=assistant.id, json_path="$.env.baseUrl", message=str(exc))]
                ) from exc
        settings = _settings_for(merged, base_url)
        key = (settings.base_url, settings.api_key)
        chat = self._clients.get(key)
        if chat is None:
            chat = self._clients[key] = OpenAIChatModel(
                api_key=settings.api_key, base_url=settings.base_url
            )
        return OpenAIChatTarget(
            chat,
            assistant=assistant,
            model=assistant.env.model or settings.model,
            auth_headers=auth_headers,
            headers=assistant_headers(assistant, merged),
            limit=self._limits.for_host(settings.base_url),
        )

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for chat in clients:
            await chat.aclose()


def _settings_for(env: Mapping[str, str], base_url: str | None) -> OpenAISettings:
    if base_url:
        return OpenAISettings.from_env({**env, "OPENAI_BASE": normalise_base_url(base_url)})
    return OpenAISettings.from_env(env)


def create_target_factory(env: Mapping[str, str]) -> OpenAIChatTargetFactory:
    """Entry point ``lamdis.targets: openai_chat``."""
    return OpenAIChatTargetFactory(env)
