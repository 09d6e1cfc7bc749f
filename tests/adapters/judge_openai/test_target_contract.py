"""The openai_chat target against the fake OpenAI server, through the real SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from lamdis_core.domain.config import Assistant, AssistantEnv
from lamdis_judge_openai import OpenAIChatTargetFactory, create_target_factory

from tests.contracts.target import TargetContract
from tests.fakes.openai_server import FakeOpenAIServer


class TestOpenAIChatTargetContract(TargetContract):
    @pytest.fixture
    async def target_factory(
        self, openai_server: FakeOpenAIServer
    ) -> AsyncIterator[OpenAIChatTargetFactory]:
        factory = create_target_factory(
            {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE": openai_server.api_base}
        )
        yield factory
        await factory.aclose()

    @pytest.fixture
    def assistant(self, openai_server: FakeOpenAIServer) -> Assistant:
        return Assistant(
            id="bare-model",
            env=AssistantEnv(
                channel="openai_chat", model="gpt-4o-mini", system_prompt="You are terse."
            ),
        )
