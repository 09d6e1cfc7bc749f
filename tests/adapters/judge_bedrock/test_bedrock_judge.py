"""Bedrock judge behaviour through aioboto3 (Converse) against the fake server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest
from lamdis_core.llm import ChatMessage, LLMJudge
from lamdis_judge_bedrock import BedrockJudge, BedrockSettings, converse_messages, create_judge

from tests.adapters._llm_judge_behaviour import LLMJudgeBehaviour, MakeJudge, fast_policy, request
from tests.adapters.judge_bedrock._env import bedrock_env
from tests.fakes._scripted import error, verdict
from tests.fakes.bedrock_server import FakeBedrockServer


class TestBedrockJudgeBehaviour(LLMJudgeBehaviour):
    @pytest.fixture
    def server(self, bedrock_server: FakeBedrockServer) -> FakeBedrockServer:
        return bedrock_server

    @pytest.fixture
    async def make_judge(self, bedrock_server: FakeBedrockServer) -> AsyncIterator[MakeJudge]:
        made: list[LLMJudge] = []

        def make(*, policy: Any = None, cache: Any = None, temperature: float = 0.0) -> LLMJudge:
            settings = attrs.evolve(
                BedrockSettings.from_env(bedrock_env(bedrock_server)), judge_temperature=temperature
            )
            judge = BedrockJudge(settings, policy=policy or fast_policy(), cache=cache)
            made.append(judge)
            return judge

        yield make
        for judge in made:
            await judge.aclose()


async def test_converse_request_is_signed_and_shaped(bedrock_server: FakeBedrockServer) -> None:
    """A judge call is a SigV4-signed Converse request for the judge model with system prompt and inference config."""
    judge = create_judge(
        bedrock_env(
            bedrock_server, BEDROCK_JUDGE_MODEL_ID="anthropic.claude-3-5-sonnet-20240620-v1:0"
        )
    )
    try:
        await judge.evaluate(request())
    finally:
        await judge.aclose()
    sent = bedrock_server.requests[0]
    assert sent.path == "/model/anthropic.claude-3-5-sonnet-20240620-v1:0/converse"
    assert sent.headers["Authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=AKIAFAKEFORTESTS0000/"
    )
    assert sent.body["system"][0]["text"]
    assert sent.body["inferenceConfig"]["temperature"] == 0.0
    assert [m["role"] for m in sent.body["messages"]] == ["user"]
    assert judge.name == "bedrock:anthropic.claude-3-5-sonnet-20240620-v1:0"


@pytest.mark.parametrize(
    ("env", "judge_model", "chat_model"),
    [
        ({}, "anthropic.claude-3-haiku-20240307-v1:0", "anthropic.claude-3-haiku-20240307-v1:0"),
        ({"BEDROCK_MODEL_ID": "shared"}, "shared", "shared"),
        (
            {
                "BEDROCK_MODEL_ID": "shared",
                "BEDROCK_JUDGE_MODEL_ID": "judge",
                "BEDROCK_CHAT_MODEL_ID": "chat",
            },
            "judge",
            "chat",
        ),
    ],
)
def test_model_precedence_follows_the_seed(
    env: dict[str, str], judge_model: str, chat_model: str
) -> None:
    """BEDROCK_JUDGE_MODEL_ID / BEDROCK_CHAT_MODEL_ID beat BEDROCK_MODEL_ID, which beats Claude 3 Haiku."""
    settings = BedrockSettings.from_env(env)
    assert (settings.judge_model_id, settings.chat_model_id) == (judge_model, chat_model)


def test_temperatures_region_and_endpoint_are_read() -> None:
    """Per-role temperatures beat BEDROCK_TEMPERATURE; AWS_REGION and the endpoint override are honoured."""
    settings = BedrockSettings.from_env(
        {
            "BEDROCK_TEMPERATURE": "0.5",
            "BEDROCK_JUDGE_TEMPERATURE": "0",
            "AWS_REGION": "eu-west-1",
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": "http://127.0.0.1:9",
        }
    )
    assert (settings.judge_temperature, settings.chat_temperature) == (0.0, 0.5)
    assert (settings.region, settings.endpoint_url) == ("eu-west-1", "http://127.0.0.1:9")
    assert "AKIA" not in repr(
        BedrockSettings.from_env({"AWS_ACCESS_KEY_ID": "AKIASECRET", "AWS_SECRET_ACCESS_KEY": "s"})
    )


def test_converse_messages_alternate_and_start_with_the_user() -> None:
    """System messages move to the system block; same-role runs merge; an assistant opening gets a user turn first."""
    system, turns = converse_messages(
        [
            ChatMessage(role="system", content="Be brief."),
            ChatMessage(role="assistant", content="Hello!"),
            ChatMessage(role="user", content="Hi."),
            ChatMessage(role="user", content="Are you there?"),
        ]
    )
    assert system == [{"text": "Be brief."}]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert turns[2]["content"][0]["text"] == "Hi.\n\nAre you there?"


async def test_a_model_without_system_prompts_gets_them_folded_into_the_user_turn(
    bedrock_server: FakeBedrockServer,
) -> None:
    """A ValidationException about system messages repeats the call with the system text in the first user turn, and later calls do so directly."""
    bedrock_server.script(
        error(400, message="This model doesn't support system messages."),
        verdict(0.9, passed=True),
        verdict(0.2),
    )
    judge = BedrockJudge(
        BedrockSettings.from_env(bedrock_env(bedrock_server)), policy=fast_policy()
    )
    try:
        first = await judge.evaluate(request())
        second = await judge.evaluate(request(rubric="Another rubric."))
    finally:
        await judge.aclose()
    assert (first.passed, second.passed) == (True, False)
    bodies = [r.body for r in bedrock_server.requests]
    assert len(bodies) == 3
    assert "system" in bodies[0] and "system" not in bodies[1] and "system" not in bodies[2]
    folded = bodies[1]["messages"][0]["content"][0]["text"]
    assert folded.startswith(bodies[0]["system"][0]["text"]) and "RUBRIC:" in folded
