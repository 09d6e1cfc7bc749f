"""What the bedrock_chat target sends, beyond the Target contract."""

from __future__ import annotations

from collections.abc import Mapping

from lamdis_core.domain.config import Assistant, AssistantEnv
from lamdis_core.ports.target import TurnRequest
from lamdis_judge_bedrock import create_target_factory

from tests.adapters.judge_bedrock._env import bedrock_env
from tests.fakes.bedrock_server import FakeBedrockServer


async def no_auth() -> Mapping[str, str]:
    return {}


async def test_a_turn_becomes_one_converse_call(bedrock_server: FakeBedrockServer) -> None:
    """System prompt, system steps and persona go in the system block; transcript and message alternate."""
    factory = create_target_factory(
        bedrock_env(bedrock_server, BEDROCK_CHAT_MODEL_ID="chat-model", BEDROCK_TEMPERATURE="0.4")
    )
    target = factory.create(
        Assistant(id="bot", env=AssistantEnv(channel="bedrock_chat", system_prompt="Be terse.")),
        no_auth,
        {},
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
        await factory.aclose()
    sent = bedrock_server.requests[0]
    assert sent.path == "/model/chat-model/converse"
    assert [b["text"] for b in sent.body["system"]] == [
        "Be terse.",
        "Customer is not logged in.",
        "About the user: Retail investor",
    ]
    assert [m["role"] for m in sent.body["messages"]] == ["user", "assistant", "user"]
    assert sent.body["inferenceConfig"] == {"temperature": 0.4}
    assert reply.text and reply.tokens > 0 and "ResponseMetadata" not in reply.raw


async def test_assistant_model_and_temperature_win(bedrock_server: FakeBedrockServer) -> None:
    """env.model and env.temperature beat BEDROCK_CHAT_MODEL_ID and BEDROCK_CHAT_TEMPERATURE."""
    factory = create_target_factory(
        bedrock_env(
            bedrock_server, BEDROCK_CHAT_MODEL_ID="chat-model", BEDROCK_CHAT_TEMPERATURE="0.9"
        )
    )
    target = factory.create(
        Assistant(
            id="bot",
            env=AssistantEnv(
                channel="bedrock_chat", model="meta.llama3-8b-instruct-v1:0", temperature=0.0
            ),
        ),
        no_auth,
        {},
    )
    try:
        await target.send(TurnRequest(message="hi", transcript=[]))
    finally:
        await factory.aclose()
    sent = bedrock_server.requests[0]
    assert sent.path == "/model/meta.llama3-8b-instruct-v1:0/converse"
    assert sent.body["inferenceConfig"] == {"temperature": 0.0}
    assert "system" not in sent.body
