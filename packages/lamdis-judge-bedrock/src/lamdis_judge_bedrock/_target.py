"""The ``bedrock_chat`` target: a Bedrock model with a system prompt as the assistant under test."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from lamdis_core.domain.config import Assistant
from lamdis_core.llm import Completion, model_turn, turn_messages
from lamdis_core.ports.target import AuthHeaders, TurnReply, TurnRequest

from lamdis_judge_bedrock._chat import BedrockChatModel
from lamdis_judge_bedrock._settings import BedrockSettings

CHANNEL = "bedrock_chat"


class BedrockChatTarget:
    """Sends each turn through Converse: ``env.systemPrompt`` as the system block, then the
    transcript and the user's message. Never retries (the engine owns retries).

    Auth headers do not apply: requests are signed with AWS credentials (SigV4).
    """

    def __init__(
        self, chat: BedrockChatModel, *, assistant: Assistant, model: str, temperature: float | None
    ) -> None:
        self.assistant = assistant
        self.model = model
        self.temperature = temperature
        self._chat = chat
        self._timeout = assistant.env.timeout_ms / 1000

    async def send(self, turn: TurnRequest) -> TurnReply:
        messages = turn_messages(turn, system_prompt=self.assistant.env.system_prompt)
        return await model_turn(
            lambda: self._chat.complete(
                messages,
                model=self.model,
                temperature=self.temperature,
                json_mode=False,
                request_timeout=self._timeout,
            ),
            channel=CHANNEL,
            assistant=self.assistant.id,
            timeout_s=self._timeout,
            raw=_raw_response,
        )

    async def aclose(self) -> None:
        # The client belongs to the factory.
        return None


def _raw_response(completion: Completion) -> dict[str, Any]:
    # The SDK's ResponseMetadata (request ids, HTTP headers) is transport noise, not the reply.
    response = completion.raw if isinstance(completion.raw, dict) else {}
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


class BedrockChatTargetFactory:
    """Builds :class:`BedrockChatTarget` s sharing one client per endpoint.

    The model is ``env.model`` of the assistant, else ``BEDROCK_CHAT_MODEL_ID`` >
    ``BEDROCK_MODEL_ID`` > Claude 3 Haiku; the temperature ``env.temperature``, else
    ``BEDROCK_CHAT_TEMPERATURE`` > ``BEDROCK_TEMPERATURE``; ``env.baseUrl``, when set,
    overrides the endpoint.
    """

    channel = CHANNEL

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = dict(env)
        self._clients: dict[BedrockSettings, BedrockChatModel] = {}

    def create(
        self, assistant: Assistant, auth_headers: AuthHeaders, env: Mapping[str, str]
    ) -> BedrockChatTarget:
        settings = BedrockSettings.from_env({**self._env, **env})
        if assistant.env.base_url:
            settings = attrs.evolve(settings, endpoint_url=assistant.env.base_url)
        chat = self._clients.get(settings)
        if chat is None:
            chat = self._clients[settings] = BedrockChatModel(settings)
        temperature = assistant.env.temperature
        return BedrockChatTarget(
            chat,
            assistant=assistant,
            model=assistant.env.model or settings.chat_model_id,
            temperature=temperature if temperature is not None else settings.chat_temperature,
        )

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for chat in clients:
            await chat.aclose()


def create_target_factory(env: Mapping[str, str]) -> BedrockChatTargetFactory:
    """Entry point ``lamdis.targets: bedrock_chat``."""
    return BedrockChatTargetFactory(env)
