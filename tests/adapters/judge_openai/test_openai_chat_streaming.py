"""The openai_chat target streams: time to first token, chunks and streamed tool calls,
against the wire-format fake through the real SDK; and it reaches an OpenAI-compatible
server by the assistant's base URL alone, with no API key configured."""

from __future__ import annotations

from collections.abc import Mapping

from lamdis_core.domain.config import Assistant, AssistantEnv
from lamdis_core.ports.target import TurnRequest
from lamdis_judge_openai import create_target_factory

from tests.fakes.openai_server import FakeOpenAIServer


async def no_auth() -> Mapping[str, str]:
    return {}


def bot(base_url: str | None = None) -> Assistant:
    return Assistant(
        id="bot",
        env=AssistantEnv(channel="openai_chat", model="local-model", base_url=base_url),
    )


async def test_a_streamed_turn_records_ttft_chunks_and_usage(
    openai_server: FakeOpenAIServer,
) -> None:
    openai_server.chunk_delay_s = 0.02
    factory = create_target_factory(
        {"OPENAI_API_KEY": "sk-t", "OPENAI_BASE": openai_server.base_url}
    )
    target = factory.create(bot(), no_auth, {})
    try:
        reply = await target.send(TurnRequest(message="hello there friend", transcript=[]))
    finally:
        await factory.aclose()
    assert reply.text == "Thanks for your message: hello there friend"
    assert reply.chunks == 7  # one chunk per word
    assert reply.ttft_ms is not None and reply.ttft_ms < reply.latency_ms
    assert reply.latency_ms - reply.ttft_ms >= 6 * 20 * 0.9  # six more chunks, 20 ms apart
    assert reply.tokens > 0  # the usage chunk asked for with stream_options
    assert openai_server.requests[0].body["stream"] is True


async def test_streamed_tool_calls_are_assembled(openai_server: FakeOpenAIServer) -> None:
    openai_server.stream_tool_calls = [{"name": "get_weather", "arguments": {"city": "Paris"}}]
    factory = create_target_factory(
        {"OPENAI_API_KEY": "sk-t", "OPENAI_BASE": openai_server.base_url}
    )
    target = factory.create(bot(), no_auth, {})
    try:
        reply = await target.send(TurnRequest(message="weather?", transcript=[]))
    finally:
        await factory.aclose()
    assert [(c.name, c.arguments, c.id) for c in reply.tool_calls] == [
        ("get_weather", {"city": "Paris"}, "call_0")
    ]


async def test_a_compatible_server_is_reached_by_base_url_without_an_api_key(
    openai_server: FakeOpenAIServer,
) -> None:
    factory = create_target_factory({})  # no OPENAI_API_KEY, no OPENAI_BASE
    target = factory.create(bot(openai_server.base_url), no_auth, {})
    try:
        reply = await target.send(TurnRequest(message="hi", transcript=[]))
    finally:
        await factory.aclose()
    assert reply.text.startswith("Thanks for your message")
    assert openai_server.requests[0].path == "/v1/chat/completions"


async def test_env_references_in_the_base_url_are_resolved(openai_server: FakeOpenAIServer) -> None:
    """Regression: ``baseUrl: ${VAR}`` reached OPENAI_BASE unresolved and failed every test."""
    import pytest
    from lamdis_core.domain.errors import ConfigError

    factory = create_target_factory({})
    with pytest.raises(ConfigError, match="MODEL_SERVER"):
        factory.create(bot("${MODEL_SERVER}"), no_auth, {})
    target = factory.create(
        bot("${MODEL_SERVER}"), no_auth, {"MODEL_SERVER": openai_server.base_url}
    )
    try:
        reply = await target.send(TurnRequest(message="hi", transcript=[]))
    finally:
        await factory.aclose()
    assert reply.text.startswith("Thanks")
