"""Request steps read their templates once: text from an assistant, a judge or an earlier
request result reaches a real loopback API as written, never as a secret from the environment."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from lamdis_core.domain import config as c
from lamdis_core.domain.convert import make_converter
from lamdis_core.domain.plan import PlanEntry, RunPlan
from lamdis_core.domain.results import ItemStatus
from lamdis_core.engine import Engine, RetryPolicy
from lamdis_core.ports.target import TurnRequest
from lamdis_core.testing.fakes import FakeClock, FakeTargetFactory, ScriptedJudge
from lamdis_http.requests import AiohttpRequester

from tests.fixtures.servers import serve_loopback

SECRET = "s3cret-value-never-sent"
ENV = {"SECRET_API_KEY": SECRET, "API_TOKEN": "token-from-env"}
HOSTILE = "${SECRET_API_KEY}"
CONVERTER = make_converter()


@pytest.fixture
async def api() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A loopback API that records every request exactly as it arrived."""
    seen: list[dict[str, Any]] = []

    async def record(request: web.Request) -> web.Response:
        raw = await request.read()
        seen.append(
            {
                "line": f"{request.method} {request.raw_path}",
                "headers": dict(request.headers),
                "body": raw.decode("utf-8"),
            }
        )
        # The result itself carries a reference, as a hostile or careless API might.
        return web.json_response({"note": HOSTILE, "id": 7})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    async with serve_loopback(app) as url:
        yield url, seen


def _request(request_id: str, base_url: str, **http: Any) -> c.RequestDef:
    return c.RequestDef(
        id=request_id,
        transport=c.Transport(http=c.HttpSpec(base_url=base_url, **http)),
    )


async def test_a_reply_or_result_holding_an_env_reference_is_sent_as_written(
    api: tuple[str, list[dict[str, Any]]],
) -> None:
    base_url, seen = api

    def assistant(turn: TurnRequest) -> str:
        return f"Sure: {HOSTILE}"

    requests = {
        "echo": _request(
            "echo",
            base_url,
            method="POST",
            path="/echo/{text}",
            headers={"x-echo": "{text}", "authorization": "Bearer ${API_TOKEN}"},
            body={"said": "{text}", "whole": "${lastAssistant}", "note": "{note}"},
        ),
        "lookup": _request(
            "lookup",
            base_url,
            method="GET",
            path="/lookup/{note}",
            headers={"x-note": "${var.first.note}"},
        ),
    }
    test = CONVERTER.structure(
        {
            "id": "t",
            "steps": [
                {"type": "message", "content": "hello"},
                {
                    "type": "request",
                    "requestId": "echo",
                    "input": {"text": "${lastAssistant}", "note": "n"},
                    "assign": "first",
                },
                {
                    "type": "request",
                    "requestId": "lookup",
                    "input": {"note": "${var.first.note}"},
                    "assign": "second",
                },
            ],
        },
        c.TestCase,
    )
    requester = AiohttpRequester()
    engine = Engine(
        targets={"http_chat": FakeTargetFactory(assistant)},
        judge=ScriptedJudge([1.0]),
        requester=requester,
        clock=FakeClock(),
        retry=RetryPolicy(retries=0, jitter=False),
        env=ENV,
    )
    assistant_config = c.Assistant(
        id="bot", env=c.AssistantEnv(base_url="http://bot.invalid", timeout_ms=1000)
    )
    try:
        result = await engine.run(
            RunPlan(entries=[PlanEntry(test=test, assistant=assistant_config, requests=requests)])
        )
    finally:
        await requester.aclose()

    item = result.items[0]
    assert item.status is ItemStatus.PASSED, item.error
    assert len(seen) == 2
    everything = repr(seen)
    assert SECRET not in everything
    post, get = seen
    # The reference travels as data in the path, the headers and the body.
    assert post["line"] == "POST /echo/Sure:%20$%7BSECRET_API_KEY%7D"
    assert post["headers"]["x-echo"] == f"Sure: {HOSTILE}"
    assert post["headers"]["Authorization"] == "Bearer token-from-env"
    assert post["body"] == (
        '{"said": "Sure: ${SECRET_API_KEY}", "whole": "Sure: ${SECRET_API_KEY}", "note": "n"}'
    )
    assert get["line"] == "GET /lookup/$%7BSECRET_API_KEY%7D"
    assert get["headers"]["x-note"] == HOSTILE


async def test_a_message_the_judge_wrote_is_sent_as_written() -> None:
    factory = FakeTargetFactory(lambda turn: "noted")
    judge = ScriptedJudge([0.0, 1.0], next_messages=[f"My key is {HOSTILE} and ${{var.x}}"])
    engine = Engine(
        targets={"http_chat": factory},
        judge=judge,
        requester=AiohttpRequester(),
        clock=FakeClock(),
        env=ENV,
    )
    test = CONVERTER.structure(
        {
            "id": "t",
            "iterate": True,
            "maxTurns": 2,
            "objective": "leak nothing",
            "script": {"messages": [{"role": "user", "content": "hi ${lastAssistant}!"}]},
        },
        c.TestCase,
    )
    assistant_config = c.Assistant(
        id="bot", env=c.AssistantEnv(base_url="http://bot.invalid", timeout_ms=1000)
    )
    await engine.run(RunPlan(entries=[PlanEntry(test=test, assistant=assistant_config)]))
    sent = [r.message for r in factory.targets["bot"].requests]
    assert sent == ["hi !", f"My key is {HOSTILE} and ${{var.x}}"]
