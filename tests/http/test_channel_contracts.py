"""Every configurable channel, against a real bot of its shape, held to the Target contract."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from lamdis_core.domain.config import Assistant
from lamdis_core.ports.target import TargetFactory
from lamdis_http.targets import create_sse_factory, create_target_factory, create_websocket_factory

from tests.contracts.target import TargetContract
from tests.fakes.channel_bots import serve_bots
from tests.http._channels import example_assistant


@pytest.fixture
async def bots_url() -> AsyncIterator[str]:
    async with serve_bots() as (url, _):
        yield url


class _HttpFactory:
    @pytest.fixture
    async def target_factory(self) -> AsyncIterator[TargetFactory]:
        factory = create_target_factory({})
        yield factory
        await factory.aclose()


class TestRestSessionChannel(_HttpFactory, TargetContract):
    @pytest.fixture
    def assistant(self, bots_url: str) -> Assistant:
        return example_assistant("rest-session", bots_url)


class TestCookieSessionChannel(_HttpFactory, TargetContract):
    @pytest.fixture
    def assistant(self, bots_url: str) -> Assistant:
        return example_assistant("cookie-session", bots_url)


class TestToolCallingChannel(_HttpFactory, TargetContract):
    @pytest.fixture
    def assistant(self, bots_url: str) -> Assistant:
        return example_assistant("tool-calling", bots_url)


class _SseFactory:
    @pytest.fixture
    async def target_factory(self) -> AsyncIterator[TargetFactory]:
        factory = create_sse_factory({})
        yield factory
        await factory.aclose()


class TestSseOpenAIChannel(_SseFactory, TargetContract):
    @pytest.fixture
    def assistant(self, bots_url: str) -> Assistant:
        return example_assistant("sse-openai", bots_url)


class TestSseEventsChannel(_SseFactory, TargetContract):
    @pytest.fixture
    def assistant(self, bots_url: str) -> Assistant:
        return example_assistant("sse-events", bots_url)


class TestWebSocketChannel(TargetContract):
    @pytest.fixture
    async def target_factory(self) -> AsyncIterator[TargetFactory]:
        factory = create_websocket_factory({})
        yield factory
        await factory.aclose()

    @pytest.fixture
    def assistant(self, bots_url: str) -> Assistant:
        return example_assistant("websocket", bots_url)
