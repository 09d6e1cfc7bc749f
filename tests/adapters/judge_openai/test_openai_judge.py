"""OpenAI judge behaviour through the real ``openai`` SDK against the fake server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from lamdis_core.domain.errors import ConfigError, JudgeError
from lamdis_core.llm import LLMJudge, MemoryResponseCache
from lamdis_judge_openai import OpenAIJudge, OpenAISettings, create_judge
from structlog.testing import capture_logs

from tests.adapters._llm_judge_behaviour import LLMJudgeBehaviour, MakeJudge, fast_policy, request
from tests.fakes._scripted import error, verdict
from tests.fakes.openai_server import FakeOpenAIServer


class TestOpenAIJudgeBehaviour(LLMJudgeBehaviour):
    @pytest.fixture
    def server(self, openai_server: FakeOpenAIServer) -> FakeOpenAIServer:
        return openai_server

    @pytest.fixture
    async def make_judge(self, openai_server: FakeOpenAIServer) -> AsyncIterator[MakeJudge]:
        made: list[LLMJudge] = []

        def make(*, policy: Any = None, cache: Any = None, temperature: float = 0.0) -> LLMJudge:
            settings = OpenAISettings(
                api_key="sk-test", base_url=openai_server.api_base, temperature=temperature
            )
            judge = OpenAIJudge(settings, policy=policy or fast_policy(), cache=cache)
            made.append(judge)
            return judge

        yield make
        for judge in made:
            await judge.aclose()


async def test_requests_ask_for_json_mode_with_model_temperature_and_key(
    openai_server: FakeOpenAIServer,
) -> None:
    """Each judge call is a chat completion in JSON mode with the configured model, temperature 0 and the key."""
    judge = create_judge(
        {
            "OPENAI_API_KEY": "sk-secret",
            "OPENAI_BASE": openai_server.base_url,
            "OPENAI_MODEL": "gpt-test",
        }
    )
    try:
        await judge.evaluate(request())
    finally:
        await judge.aclose()
    sent = openai_server.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.body["response_format"] == {"type": "json_object"}
    assert (sent.body["model"], sent.body["temperature"]) == ("gpt-test", 0.0)
    assert sent.headers["Authorization"] == "Bearer sk-secret"
    assert judge.name == "openai:gpt-test"


def test_settings_read_the_seed_variables() -> None:
    """OPENAI_BASE, OPENAI_MODEL and OPENAI_TEMPERATURE are read, with gpt-4o-mini and 0 as defaults."""
    defaults = OpenAISettings.from_env({"OPENAI_API_KEY": "sk-x"})
    custom = OpenAISettings.from_env(
        {
            "OPENAI_API_KEY": "sk-x",
            "OPENAI_BASE": "http://llm.local:8000/v1/",
            "OPENAI_MODEL": "m",
            "OPENAI_TEMPERATURE": "0.3",
        }
    )
    assert (defaults.base_url, defaults.model, defaults.temperature) == (
        "https://api.openai.com/v1",
        "gpt-4o-mini",
        0.0,
    )
    assert (custom.base_url, custom.model, custom.temperature) == (
        "http://llm.local:8000/v1",
        "m",
        0.3,
    )
    assert (
        OpenAISettings.from_env(
            {"OPENAI_API_KEY": "k", "OPENAI_BASE": "https://api.openai.com"}
        ).base_url
        == "https://api.openai.com/v1"
    )


def test_the_api_key_never_appears_in_the_settings_repr() -> None:
    """Settings can be logged without leaking the key."""
    assert "sk-very-secret" not in repr(
        OpenAISettings.from_env({"OPENAI_API_KEY": "sk-very-secret"})
    )


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({}, "OPENAI_API_KEY"),
        ({"OPENAI_API_KEY": "k", "OPENAI_TEMPERATURE": "warm"}, "OPENAI_TEMPERATURE"),
        ({"OPENAI_API_KEY": "k", "OPENAI_BASE": "api.openai.com"}, "OPENAI_BASE"),
        ({"OPENAI_API_KEY": "k", "LAMDIS_JUDGE_CONCURRENCY": "0"}, "LAMDIS_JUDGE_CONCURRENCY"),
    ],
)
def test_bad_settings_are_config_errors_naming_the_variable(
    env: dict[str, str], match: str
) -> None:
    """A missing key or a malformed setting is a ConfigError that names the variable."""
    with pytest.raises(ConfigError, match=match):
        create_judge(env)


async def test_cache_passed_to_create_judge_is_used(openai_server: FakeOpenAIServer) -> None:
    """The composition root's cache reaches the judge: a repeat call is not sent."""
    judge = create_judge(
        {"OPENAI_API_KEY": "k", "OPENAI_BASE": openai_server.api_base}, cache=MemoryResponseCache()
    )
    try:
        await judge.evaluate(request())
        again = await judge.evaluate(request())
    finally:
        await judge.aclose()
    assert again.cached and len(openai_server.requests) == 1


async def test_a_model_refusing_temperature_is_asked_again_without_it(
    openai_server: FakeOpenAIServer,
) -> None:
    """A 400 naming temperature (reasoning models) repeats the call without it, and later calls leave it out."""
    openai_server.script(
        error(400, message="Unsupported value: 'temperature' does not support 0 with this model."),
        verdict(0.8, passed=True),
        verdict(0.3, passed=False),
    )
    judge = OpenAIJudge(
        OpenAISettings(api_key="k", base_url=openai_server.api_base, model="o-reasoner"),
        policy=fast_policy(),
    )
    try:
        with capture_logs() as logs:
            first = await judge.evaluate(request())
            second = await judge.evaluate(request(rubric="Another rubric."))
    finally:
        await judge.aclose()
    assert (first.passed, second.passed) == (True, False)
    bodies = [r.body for r in openai_server.requests]
    assert len(bodies) == 3
    assert (
        "temperature" in bodies[0]
        and "temperature" not in bodies[1]
        and "temperature" not in bodies[2]
    )
    assert all(b["response_format"] == {"type": "json_object"} for b in bodies)
    assert [e["param"] for e in logs if e["event"] == "llm_param_refused"] == ["temperature"]


async def test_a_bad_request_about_something_else_is_not_repeated(
    openai_server: FakeOpenAIServer,
) -> None:
    """A 400 that names no optional parameter fails at once with the server's message."""
    openai_server.script(error(400, message="The model `nope` does not exist."))
    judge = OpenAIJudge(
        OpenAISettings(api_key="k", base_url=openai_server.api_base, model="nope"),
        policy=fast_policy(),
    )
    try:
        with pytest.raises(JudgeError, match="does not exist"):
            await judge.evaluate(request())
    finally:
        await judge.aclose()
    assert len(openai_server.requests) == 1
