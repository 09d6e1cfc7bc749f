"""The http_chat target against the real demo assistant, held to the Target contract."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from lamdis_core.domain.config import Assistant, AssistantEnv
from lamdis_http.targets import HttpChatTargetFactory

from tests.contracts.target import TargetContract


class TestHttpChatTarget(TargetContract):
    @pytest.fixture
    async def target_factory(self) -> AsyncIterator[HttpChatTargetFactory]:
        factory = HttpChatTargetFactory()
        yield factory
        await factory.aclose()

    @pytest.fixture
    def assistant(self, demo_url: str) -> Assistant:
        return Assistant(id="assistants/demo", env=AssistantEnv(base_url=demo_url, timeout_ms=5000))
