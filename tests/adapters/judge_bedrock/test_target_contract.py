"""The bedrock_chat target against the fake Bedrock Runtime server, through aioboto3."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from lamdis_core.domain.config import Assistant, AssistantEnv
from lamdis_judge_bedrock import BedrockChatTargetFactory, create_target_factory

from tests.adapters.judge_bedrock._env import bedrock_env
from tests.contracts.target import TargetContract
from tests.fakes.bedrock_server import FakeBedrockServer


class TestBedrockChatTargetContract(TargetContract):
    @pytest.fixture
    async def target_factory(
        self, bedrock_server: FakeBedrockServer
    ) -> AsyncIterator[BedrockChatTargetFactory]:
        factory = create_target_factory(bedrock_env(bedrock_server))
        yield factory
        await factory.aclose()

    @pytest.fixture
    def assistant(self, bedrock_server: FakeBedrockServer) -> Assistant:
        # base_url left unset: the endpoint comes from BEDROCK_ENDPOINT_URL in the factory's env.
        return Assistant(
            id="bare-model",
            env=AssistantEnv(channel="bedrock_chat", system_prompt="You are terse."),
        )
