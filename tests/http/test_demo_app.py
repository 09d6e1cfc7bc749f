"""The bundled demo assistant, exercised over real HTTP with the real requester."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from lamdis_core.ports.requester import HttpCall, HttpResult
from lamdis_http.demo import DISCLAIMER, make_demo_app, start_demo_server
from lamdis_http.requests import AiohttpRequester

STATIC = {"Authorization": "Bearer demo-token"}


@pytest.fixture
async def http() -> AsyncIterator[AiohttpRequester]:
    requester = AiohttpRequester()
    yield requester
    await requester.aclose()


async def _chat(http: AiohttpRequester, url: str, message: str, **extra: object) -> HttpResult:
    return await http.send(
        HttpCall(
            method="POST", url=f"{url}/chat", json={"message": message, "transcript": [], **extra}
        )
    )


async def _token(http: AiohttpRequester, url: str, **form: str) -> HttpResult:
    fields = {
        "grant_type": "client_credentials",
        "client_id": "demo-client",
        "client_secret": "demo-secret",
    }
    fields.update(form)
    return await http.send(HttpCall(method="POST", url=f"{url}/oauth/token", form=fields))


# --- chat ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Hello there", ["demo investing helper"]),
        (
            "I want to move everything into a very risky biotech stock.",
            ["single risky stock", "potential loss", "Diversification means"],
        ),
        (
            "Suggest a more diversified allocation and remind me of the risks.",
            ["diversified allocation", "Diversification means", "involves risk"],
        ),
        ("Can you review my account?", ["tell me its id"]),
        ("Summarize the changes you made.", ["Summary of the changes", "diversified", "risk"]),
        ("What is the weather?", ["general questions about investing"]),
    ],
)
async def test_chat_replies_by_topic_and_always_disclaims(
    http: AiohttpRequester, demo_url: str, message: str, expected: list[str]
) -> None:
    result = await _chat(http, demo_url, message)
    assert result.status == 200
    reply = result.body["reply"]
    for phrase in expected:
        assert phrase in reply
    assert reply.endswith(DISCLAIMER)


async def test_chat_is_deterministic(http: AiohttpRequester, demo_url: str) -> None:
    first = await _chat(http, demo_url, "Is a risky stock a good idea?")
    second = await _chat(http, demo_url, "Is a risky stock a good idea?")
    assert first.body == second.body


async def test_chat_echoes_the_account_it_sees_with_its_stored_state(
    http: AiohttpRequester, demo_url: str
) -> None:
    created = await http.send(
        HttpCall(
            method="POST", url=f"{demo_url}/accounts", headers=STATIC, json={"risk_level": "high"}
        )
    )
    account_id = created.body["id"]
    review = await _chat(http, demo_url, f"Please review my account {account_id}.")
    assert f"account {account_id}" in review.body["reply"]
    assert "risk level high" in review.body["reply"]
    # Later turns find the id in the transcript.
    summary = await http.send(
        HttpCall(
            method="POST",
            url=f"{demo_url}/chat",
            json={
                "message": "Summarize the changes.",
                "transcript": [{"role": "user", "content": f"Review account {account_id}"}],
            },
        )
    )
    assert f"account {account_id}" in summary.body["reply"]


async def test_persona_changes_the_tone(http: AiohttpRequester, demo_url: str) -> None:
    result = await _chat(http, demo_url, "hello", persona="Customer with low financial literacy")
    assert result.body["reply"].startswith("In plain words:")


async def test_chat_rejects_a_body_without_message(http: AiohttpRequester, demo_url: str) -> None:
    result = await http.send(HttpCall(method="POST", url=f"{demo_url}/chat", json={"text": "hi"}))
    assert result.status == 400
    assert "string 'message'" in result.body["error"]


@pytest.mark.parametrize(
    ("marker", "status", "retry_after"),
    [("#fail:500", 500, None), ("#fail:400", 400, None), ("#fail:429", 429, "0"),
     ("#fail:502", 502, None), ("#fail:503", 503, "0"), ("#fail:504", 504, None)],
)  # fmt: skip
async def test_status_faults(
    http: AiohttpRequester, demo_url: str, marker: str, status: int, retry_after: str | None
) -> None:
    result = await _chat(http, demo_url, f"please {marker}")
    assert result.status == status
    assert result.headers.get("retry-after") == retry_after


async def test_body_faults(http: AiohttpRequester, demo_url: str) -> None:
    nonjson = await _chat(http, demo_url, "#fail:nonjson")
    assert nonjson.status == 200
    assert nonjson.headers["content-type"].startswith("text/html")
    empty = await _chat(http, demo_url, "#fail:empty")
    assert empty.body == {"reply": ""}
    noreply = await _chat(http, demo_url, "#fail:noreply")
    assert "reply" not in noreply.body
    unknown = await _chat(http, demo_url, "#fail:bogus")
    assert unknown.status == 400
    assert "unknown demo fault 'bogus'" in unknown.body["error"]


async def test_fault_header_works_like_the_marker(http: AiohttpRequester, demo_url: str) -> None:
    result = await http.send(
        HttpCall(
            method="POST",
            url=f"{demo_url}/chat",
            headers={"X-Demo-Fail": "503"},
            json={"message": "an ordinary question"},
        )
    )
    assert result.status == 503


async def test_reset_drops_the_connection(http: AiohttpRequester, demo_url: str) -> None:
    from lamdis_core.domain.errors import RequestError

    with pytest.raises(RequestError, match="could not connect") as caught:
        await _chat(http, demo_url, "#fail:reset")
    assert caught.value.retryable


async def test_flaky_fails_n_times_then_answers(http: AiohttpRequester, demo_url: str) -> None:
    statuses = [(await _chat(http, demo_url, "hello #flaky:2")).status for _ in range(3)]
    assert statuses == [503, 503, 200]


async def test_delay_and_latency_slow_the_reply(http: AiohttpRequester) -> None:
    runner, url = await start_demo_server("127.0.0.1", 0, latency_ms=50)
    try:
        started = time.perf_counter()
        await _chat(http, url, "hello #delay:50")
        assert time.perf_counter() - started >= 0.1
    finally:
        await runner.cleanup()


async def test_hang_is_released_when_the_server_stops(http: AiohttpRequester) -> None:
    runner, url = await start_demo_server("127.0.0.1", 0, 0)
    pending = asyncio.create_task(_chat(http, url, "#fail:hang"))
    await asyncio.sleep(0.1)
    assert not pending.done()
    started = time.perf_counter()
    await runner.cleanup()
    assert time.perf_counter() - started < 1.5
    result = await asyncio.wait_for(pending, 2)
    assert result.status == 503
    assert "hang ended" in result.body["error"]


# --- OAuth and accounts --------------------------------------------------------------------


async def test_accounts_require_a_bearer_token(http: AiohttpRequester, demo_url: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}):
        result = await http.send(
            HttpCall(method="GET", url=f"{demo_url}/accounts", headers=headers)
        )
        assert result.status == 401
        assert result.headers["www-authenticate"].startswith("Bearer")


async def test_account_lifecycle_with_the_static_token(
    http: AiohttpRequester, demo_url: str
) -> None:
    created = await http.send(
        HttpCall(
            method="POST", url=f"{demo_url}/accounts", headers=STATIC, json={"risk_level": "high"}
        )
    )
    assert created.status == 201
    assert created.body == {"id": "acct-1001", "risk_level": "high", "status": "open"}
    fetched = await http.send(
        HttpCall(method="GET", url=f"{demo_url}/accounts/acct-1001", headers=STATIC)
    )
    assert fetched.body == created.body
    updated = await http.send(
        HttpCall(
            method="PATCH",
            url=f"{demo_url}/accounts/acct-1001",
            headers=STATIC,
            json={"risk_level": "moderate"},
        )
    )
    assert updated.body["risk_level"] == "moderate"
    second = await http.send(HttpCall(method="POST", url=f"{demo_url}/accounts", headers=STATIC))
    assert second.body["id"] == "acct-1002"


async def test_account_given_id_is_kept_as_sent(http: AiohttpRequester, demo_url: str) -> None:
    created = await http.send(
        HttpCall(
            method="POST",
            url=f"{demo_url}/accounts",
            headers=STATIC,
            json={"id": 1001, "status": "open"},
        )
    )
    assert created.body["id"] == 1001
    fetched = await http.send(
        HttpCall(method="GET", url=f"{demo_url}/accounts/1001", headers=STATIC)
    )
    assert fetched.status == 200


async def test_account_errors_say_what_was_expected(http: AiohttpRequester, demo_url: str) -> None:
    missing = await http.send(
        HttpCall(method="GET", url=f"{demo_url}/accounts/nope", headers=STATIC)
    )
    assert missing.status == 404
    bad_risk = await http.send(
        HttpCall(
            method="POST", url=f"{demo_url}/accounts", headers=STATIC, json={"risk_level": "yolo"}
        )
    )
    assert bad_risk.status == 400
    assert "risk_level must be one of" in bad_risk.body["error"]
    unknown = await http.send(
        HttpCall(method="POST", url=f"{demo_url}/accounts", headers=STATIC, json={"colour": "red"})
    )
    assert "unknown field(s) ['colour']" in unknown.body["error"]


async def test_oauth_token_opens_the_accounts_api(http: AiohttpRequester, demo_url: str) -> None:
    token = await _token(http, demo_url, scope="accounts:write")
    assert token.status == 200
    assert token.body["token_type"] == "Bearer"
    assert token.body["expires_in"] == 3600
    assert token.body["scope"] == "accounts:write"
    bearer = {"Authorization": f"Bearer {token.body['access_token']}"}
    created = await http.send(HttpCall(method="POST", url=f"{demo_url}/accounts", headers=bearer))
    assert created.status == 201
    stats = await http.send(HttpCall(method="GET", url=f"{demo_url}/demo/stats"))
    assert stats.body["tokens_issued"] == 1


async def test_oauth_accepts_basic_client_credentials(
    http: AiohttpRequester, demo_url: str
) -> None:
    basic = base64.b64encode(b"demo-client:demo-secret").decode()
    result = await http.send(
        HttpCall(
            method="POST",
            url=f"{demo_url}/oauth/token",
            headers={"Authorization": f"Basic {basic}"},
            form={"grant_type": "client_credentials"},
        )
    )
    assert result.status == 200


async def test_oauth_rejects_bad_clients_and_grants(http: AiohttpRequester, demo_url: str) -> None:
    wrong = await _token(http, demo_url, client_secret="guess")
    assert wrong.status == 401
    assert wrong.body["error"] == "invalid_client"
    grant = await _token(http, demo_url, grant_type="password")
    assert grant.status == 400
    assert grant.body["error"] == "unsupported_grant_type"


async def test_oauth_client_is_configurable_and_tokens_expire(http: AiohttpRequester) -> None:
    app = make_demo_app(client_id="ci", client_secret="cs", token_ttl_s=0)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    url = f"http://127.0.0.1:{port}"
    try:
        token = await _token(http, url, client_id="ci", client_secret="cs")
        assert token.body["expires_in"] == 0
        bearer = {"Authorization": f"Bearer {token.body['access_token']}"}
        expired = await http.send(HttpCall(method="GET", url=f"{url}/accounts", headers=bearer))
        assert expired.status == 401
    finally:
        await runner.cleanup()


def test_negative_latency_is_refused() -> None:
    with pytest.raises(ValueError, match="latency_ms must be >= 0"):
        make_demo_app(-1)


async def test_slow_replies_end_when_the_server_stops(http: AiohttpRequester) -> None:
    runner, url = await start_demo_server("127.0.0.1", 0, latency_ms=30_000)
    pending = asyncio.create_task(_chat(http, url, "hello #delay:30000"))
    await asyncio.sleep(0.1)
    started = time.perf_counter()
    await runner.cleanup()
    result = await asyncio.wait_for(pending, 2)
    assert time.perf_counter() - started < 1.5
    assert result.status == 200
