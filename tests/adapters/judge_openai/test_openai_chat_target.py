"""What the openai_chat target sends, beyond the Target contract."""

from __future__ import annotations

import re
from collections.abc import Mapping

import pytest
from lamdis_core.domain.config import Assistant, AssistantEnv
from lamdis_core.domain.errors import ConfigError
from lamdis_core.ports.target import TurnRequest
from lamdis_judge_openai import create_target_factory

from tests.fakes.openai_server import FakeOpenAIServer


async def bearer() -> Mapping[str, str]:
    return {"Authorization": "Bearer from-auth-ref"}


def assistant(**env: object) -> Assistant:
    return Assistant(id="bot", env=AssistantEnv(channel="openai_chat", **env))  # type: ignore[arg-type]


async def test_a_turn_becomes_one_chat_completion(openai_server: FakeOpenAIServer) -> None:
    """System prompt, system steps, persona, transcript and message are sent in order with the assistant's model and temperature."""
    factory = create_target_factory(
        {
            "OPENAI_API_KEY": "sk-t",
            "OPENAI_BASE": openai_server.base_url,
            "OPENAI_MODEL": "judge-model",
        }
    )
    target = factory.create(
        assistant(model="target-model", system_prompt="Be terse.", temperature=0.3), bearer, {}
    )
    try:
        reply = await target.send(
            TurnRequest(
                message="Second question",
                transcript=[
                    {"role": "user", "content": "First"},
                    {"role": "assistant", "content": "Answer"},
                ],
                persona="Retail investor",
                system=["Customer is not logged in."],
            )
        )
    finally:
        await target.aclose()
        await factory.aclose()
    body = openai_server.requests[0].body
    assert (body["model"], body["temperature"]) == ("target-model", 0.3)
    assert "response_format" not in body
    assert [m["role"] for m in body["messages"]] == [
        "system",
        "system",
        "system",
        "user",
        "assistant",
        "user",
    ]
    assert (
        body["messages"][0]["content"] == "Be terse."
        and body["messages"][-1]["content"] == "Second question"
    )
    assert reply.text.startswith("Thanks for your message") and reply.tokens > 0
    assert reply.raw["object"] == "chat.completion"


async def test_headers_come_from_env_and_auth_and_model_falls_back(
    openai_server: FakeOpenAIServer,
) -> None:
    """env.headers (with ${VAR} read from the environment) and the auth headers are sent; OPENAI_MODEL is the fallback model and no temperature is forced."""
    factory = create_target_factory({"OPENAI_API_KEY": "sk-t", "OPENAI_MODEL": "fallback-model"})
    env = {"TENANT": "acme"}
    target = factory.create(
        assistant(base_url=openai_server.base_url, headers={"x-tenant": "${TENANT}"}), bearer, env
    )
    try:
        await target.send(TurnRequest(message="hi", transcript=[]))
    finally:
        await factory.aclose()
    sent = openai_server.requests[0]
    assert sent.headers["x-tenant"] == "acme"
    assert sent.headers["Authorization"] == "Bearer from-auth-ref"
    assert sent.body["model"] == "fallback-model" and "temperature" not in sent.body


async def test_each_turn_sends_a_traceparent_in_the_conversations_trace(
    openai_server: FakeOpenAIServer,
) -> None:
    """As the HTTP channels do: the conversation id is the trace id, each turn a new parent
    span id; one in the assistant's own env.headers is replaced, a turn without a conversation
    id sends none."""
    conversation = "4bf92f3577b34da6a3ce929d0e0e4736"
    factory = create_target_factory({"OPENAI_API_KEY": "sk-t"})
    target = factory.create(
        assistant(base_url=openai_server.base_url, headers={"traceparent": "stale"}), bearer, {}
    )
    try:
        for turn in (1, 2):
            await target.send(
                TurnRequest(message="hi", transcript=[], conversation_id=conversation, turn=turn)
            )
        await target.send(TurnRequest(message="hi", transcript=[]))
    finally:
        await factory.aclose()
    sent = [
        {k.lower(): v for k, v in r.headers.items()}.get("traceparent")
        for r in openai_server.requests
    ]
    parsed = [re.fullmatch(r"00-([0-9a-f]{32})-([0-9a-f]{16})-01", h or "") for h in sent[:2]]
    assert all(parsed), sent
    assert {m.group(1) for m in parsed if m} == {conversation}
    assert len({m.group(2) for m in parsed if m}) == 2
    assert sent[2] == "stale"


def test_a_header_naming_an_unset_variable_is_a_config_error() -> None:
    """A ${VAR} in env.headers that the environment lacks stops the run at create time, naming it."""
    factory = create_target_factory({"OPENAI_API_KEY": "sk-t"})
    with pytest.raises(ConfigError, match="MISSING_TOKEN"):
        factory.create(assistant(headers={"x-key": "${MISSING_TOKEN}"}), bearer, {})


def test_the_public_endpoint_without_a_key_is_a_config_error() -> None:
    """Without OPENAI_API_KEY and without a base URL of its own, the target cannot be created."""
    factory = create_target_factory({})
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        factory.create(assistant(), bearer, {})


async def test_assistants_on_one_endpoint_share_a_client(openai_server: FakeOpenAIServer) -> None:
    """Targets for the same base URL and key reuse one SDK client; another base URL gets its own."""
    factory = create_target_factory(
        {"OPENAI_API_KEY": "sk-t", "OPENAI_BASE": openai_server.base_url}
    )
    first = factory.create(assistant(), bearer, {})
    second = factory.create(assistant(model="other"), bearer, {})
    third = factory.create(assistant(base_url="http://127.0.0.1:9/v1"), bearer, {})
    try:
        assert first._chat is second._chat
        assert third._chat is not first._chat
    finally:
        await factory.aclose()
