"""The external judge pointed at lamdis' own hosted service, whose judge is the OpenAI adapter
talking to the fake OpenAI server: runner -> service -> model, all over real HTTP."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from lamdis_core.domain.errors import JudgeError
from lamdis_core.llm import CallPolicy
from lamdis_core.ports.judge import Judge
from lamdis_core.retry import RetryPolicy
from lamdis_core.testing.memory import InMemoryCatalog, InMemoryRunStore
from lamdis_http.bootstrap import Settings, build_app
from lamdis_http.judges.external import create_judge
from lamdis_judge_openai import OpenAIJudge, OpenAISettings

from tests.contracts.judge import RUBRIC, sample_request
from tests.fakes._scripted import answer, free_port, verdict
from tests.fakes.openai_server import FakeOpenAIServer

TOKEN = "service-token-for-tests"


@contextlib.asynccontextmanager
async def serving(
    judge: Judge, port: int | None = None, *, hmac_secret: str | None = None
) -> AsyncIterator[str]:
    """lamdis' hosted service with ``judge`` on a loopback port; yields its base URL."""
    app = build_app(
        Settings(api_token=TOKEN, hmac_secret=hmac_secret, env={}),
        store=InMemoryRunStore(),
        catalog=InMemoryCatalog(),
        judge=judge,
        targets={},
        start_worker=False,
    )
    runner = web.AppRunner(app)
    await runner.setup()
    port = port or free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
        await judge.aclose()


@pytest.fixture
async def service_url(openai_server: FakeOpenAIServer) -> AsyncIterator[str]:
    judge = OpenAIJudge(
        OpenAISettings(api_key="sk-t", base_url=openai_server.api_base),
        policy=CallPolicy(timeout=5, retry=RetryPolicy(retries=0)),
    )
    async with serving(judge) as url:
        yield url


async def test_a_verdict_travels_runner_to_service_to_model_and_back(
    service_url: str, openai_server: FakeOpenAIServer
) -> None:
    """The service's model sees the rubric and transcript; the runner gets its score, reasoning, model and next message."""
    openai_server.script(
        verdict(
            0.35,
            passed=False,
            reasoning="No penalty mentioned.",
            next_message="Is there a penalty?",
        )
    )
    judge = create_judge({"JUDGE_BASE_URL": service_url, "LAMDIS_API_TOKEN": TOKEN})
    try:
        result = await judge.evaluate(sample_request(propose_next=True))
    finally:
        await judge.aclose()
    prompt = openai_server.requests[0].prompt
    assert RUBRIC in prompt and "What fees do you charge?" in prompt
    assert (result.score, result.passed, result.model_pass) == (0.35, False, False)
    assert result.reasoning == "No penalty mentioned."
    assert result.next_message == "Is there a penalty?"
    assert result.model == "gpt-4o-mini"


async def test_the_service_judge_failing_is_an_error_for_the_runner(
    service_url: str, openai_server: FakeOpenAIServer
) -> None:
    """When the service's model output is unusable, the service answers 502 and the runner raises JudgeError."""
    openai_server.script(answer("no json"), answer("still no json"))
    judge = create_judge(
        {"JUDGE_BASE_URL": service_url, "LAMDIS_API_TOKEN": TOKEN, "LAMDIS_JUDGE_MAX_RETRIES": "0"}
    )
    try:
        with pytest.raises(JudgeError, match="502"):
            await judge.evaluate(sample_request())
    finally:
        await judge.aclose()


async def test_a_wrong_token_is_refused_not_judged(
    service_url: str, openai_server: FakeOpenAIServer
) -> None:
    """Without the service's token the runner gets a JudgeError and the model is never called."""
    judge = create_judge({"JUDGE_BASE_URL": service_url, "LAMDIS_API_TOKEN": "wrong"})
    try:
        with pytest.raises(JudgeError, match="401"):
            await judge.evaluate(sample_request())
    finally:
        await judge.aclose()
    assert openai_server.requests == []


async def test_signed_requests_pass_a_service_that_enforces_hmac(
    openai_server: FakeOpenAIServer,
) -> None:
    """With JUDGE_HMAC_SECRET matching the service's LAMDIS_HMAC_SECRET, the signed call is judged; unsigned, it is refused."""
    judge = OpenAIJudge(OpenAISettings(api_key="sk-t", base_url=openai_server.api_base))
    async with serving(judge, hmac_secret="shared-secret") as url:
        signed = create_judge(
            {"JUDGE_BASE_URL": url, "LAMDIS_API_TOKEN": TOKEN, "JUDGE_HMAC_SECRET": "shared-secret"}
        )
        unsigned = create_judge(
            {"JUDGE_BASE_URL": url, "LAMDIS_API_TOKEN": TOKEN, "LAMDIS_JUDGE_MAX_RETRIES": "0"}
        )
        try:
            result = await signed.evaluate(sample_request())
            with pytest.raises(JudgeError, match="401"):
                await unsigned.evaluate(sample_request())
        finally:
            await signed.aclose()
            await unsigned.aclose()
    assert result.passed
    assert len(openai_server.requests) == 1


async def test_a_service_whose_judge_points_back_at_itself_refuses_instead_of_looping() -> None:
    """JUDGE_BASE_URL at the service itself: the forwarded request is refused (508), and the
    runner's check becomes an error naming the loop, not a hang or a pass."""
    port = free_port()
    settings = {
        "JUDGE_BASE_URL": f"http://127.0.0.1:{port}",
        "LAMDIS_API_TOKEN": TOKEN,
        "LAMDIS_JUDGE_MAX_RETRIES": "0",
    }
    async with serving(create_judge(settings), port):
        caller = create_judge(settings)
        try:
            with pytest.raises(JudgeError, match="loop"):
                await caller.evaluate(sample_request())
        finally:
            await caller.aclose()
