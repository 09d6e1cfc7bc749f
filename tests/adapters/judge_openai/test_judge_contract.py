"""The OpenAI judge held to the Judge contract, through the real SDK against the fake server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from lamdis_core.llm import CallPolicy
from lamdis_core.retry import RetryPolicy
from lamdis_judge_openai import OpenAIJudge, OpenAISettings

from tests.contracts.judge import JudgeContract
from tests.fakes._scripted import answer, error, verdict
from tests.fakes.openai_server import FakeOpenAIServer

RETRIES = 1


class TestOpenAIJudgeContract(JudgeContract):
    scriptable = True

    @pytest.fixture
    async def judge(self, openai_server: FakeOpenAIServer) -> AsyncIterator[OpenAIJudge]:
        self.server = openai_server
        judge = OpenAIJudge(
            OpenAISettings(api_key="sk-test", base_url=openai_server.api_base),
            policy=CallPolicy(timeout=5, retry=RetryPolicy(retries=RETRIES, base_delay=0.01)),
        )
        yield judge
        await judge.aclose()

    def arrange_verdict(
        self,
        *,
        score: float,
        model_pass: bool | None = None,
        reasoning: str = "Fine.",
        next_message: str | None = None,
    ) -> None:
        self.server.script(
            verdict(score, passed=model_pass, reasoning=reasoning, next_message=next_message)
        )

    def arrange_failure(self) -> None:
        self.server.script(*[error(503)] * (RETRIES + 1))

    def arrange_opening(self, message: str) -> None:
        self.server.script(answer(json.dumps({"message": message})))

    def arrange_extraction(self, *, found: bool, value: object) -> None:
        self.server.script(
            answer(
                json.dumps({"found": found, "value": value, "reasoning": "From the first message."})
            )
        )
