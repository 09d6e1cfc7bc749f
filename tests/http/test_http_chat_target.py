"""http_chat behaviour beyond the Target contract: headers, env, replyPath, messages, pooling."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from importlib.metadata import entry_points
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st
from lamdis_core.domain.config import Assistant, AssistantEnv
from lamdis_core.domain.errors import ConfigError, RequestError, TargetError
from lamdis_core.ports.target import TurnRequest
from lamdis_core.ratelimit import run_concurrency
from lamdis_core.retry import parse_retry_after
from lamdis_http.targets import HttpChatTargetFactory, create_target_factory

SECRET = "s3cr3t-header-value"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def factory() -> AsyncIterator[HttpChatTargetFactory]:
    made = HttpChatTargetFactory()
    yield made
    await made.aclose()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """Start a one-route (POST /chat) aiohttp server on a free loopback port; returns its URL."""
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_post("/chat", handler)
        app.router.add_post("/v2/talk", handler)
        runner = web.AppRunner(app, shutdown_timeout=0.5)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


def _assistant(base_url: str | None, **env: Any) -> Assistant:
    reply_path = env.pop("reply_path", None)
    return Assistant(
        id="assistants/test", env=AssistantEnv(base_url=base_url, **env), reply_path=reply_path
    )


async def _auth() -> Mapping[str, str]:
    return {"Authorization": f"Bearer {SECRET}"}


def _turn(message: str = "hello") -> TurnRequest:
    return TurnRequest(message=message, transcript=[])


async def test_a_run_of_20_concurrent_tests_calls_its_host_20_at_once_from_the_start(
    serve: Callable[[Handler], Awaitable[str]],
) -> None:
    """The host's limit starts at the run's concurrency: slow start from 4 slots doubled a
    short run's time (the engine sets it, see test_engine's run_concurrency test)."""
    in_flight, peak = 0, 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.3)
        in_flight -= 1
        return web.json_response({"reply": "ok"})

    async def no_auth() -> Mapping[str, str]:
        return {}

    url = await serve(handler)
    # Without a run's concurrency the limit probes up: 4 calls, then 8 (slow start).
    for tests, expected in ((20, 20), (1, 8)):
        factory = HttpChatTargetFactory()
        try:
            with run_concurrency(tests):
                target = factory.create(_assistant(url), no_auth, {})
                peak = 0
                await asyncio.gather(*(target.send(_turn()) for _ in range(20)))
        finally:
            await factory.aclose()
        assert peak == expected, (tests, peak)


async def test_headers_come_from_env_and_auth(
    factory: HttpChatTargetFactory, serve: Callable[[Handler], Awaitable[str]]
) -> None:
    seen: dict[str, str] = {}

    async def handler(request: web.Request) -> web.Response:
        seen.update(request.headers)
        return web.json_response({"reply": "ok"})

    url = await serve(handler)
    assistant = _assistant(url, headers={"x-api-key": "${BOT_KEY}", "x-team": "qa"})
    target = factory.create(assistant, _auth, {"BOT_KEY": "k-123"})
    await target.send(_turn())
    assert seen["x-api-key"] == "k-123"
    assert seen["x-team"] == "qa"
    assert seen["Authorization"] == f"Bearer {SECRET}"
    assert seen["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("retryable", [True, False])
async def test_auth_failure_becomes_a_target_error_keeping_retryable(
    factory: HttpChatTargetFactory, retryable: bool
) -> None:
    async def failing_auth() -> Mapping[str, str]:
        raise RequestError("OAuth token request to http://idp/token failed", retryable=retryable)

    target = factory.create(_assistant("http://127.0.0.1:1"), failing_auth, {})
    with pytest.raises(TargetError, match="could not get the auth headers: OAuth token") as caught:
        await target.send(_turn())
    assert caught.value.retryable is retryable


def test_missing_header_variable_is_a_config_error_naming_it() -> None:
    factory = HttpChatTargetFactory()
    assistant = _assistant("http://127.0.0.1:1", headers={"x-api-key": "${BOT_KEY}"})
    with pytest.raises(ConfigError) as caught:
        factory.create(assistant, _auth, {})
    (problem,) = caught.value.problems
    assert "BOT_KEY" in problem.message
    assert problem.json_path == "$.env.headers.x-api-key"
    assert problem.file == "assistants/test"


def test_base_url_is_required_and_must_be_http() -> None:
    factory = HttpChatTargetFactory()
    with pytest.raises(ConfigError, match=r"\$\.env\.baseUrl.*needs env\.baseUrl"):
        factory.create(_assistant(None), _auth, {})
    with pytest.raises(ConfigError, match="expected an http:// or https:// URL"):
        factory.create(_assistant("ftp://bot"), _auth, {})
    with pytest.raises(ConfigError, match="resolves to an empty URL"):
        factory.create(_assistant("${BOT_URL}"), _auth, {"BOT_URL": ""})


async def test_base_url_reads_the_environment_and_path_is_honoured(
    factory: HttpChatTargetFactory, serve: Callable[[Handler], Awaitable[str]]
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"reply": f"path {request.path}"})

    url = await serve(handler)
    assistant = _assistant("${BOT_URL}/", path="v2/talk")
    target = factory.create(assistant, _auth, {"BOT_URL": url})
    reply = await target.send(_turn())
    assert reply.text == "path /v2/talk"


async def test_reply_path_reads_a_nested_field_and_raw_payload_is_kept(
    factory: HttpChatTargetFactory, serve: Callable[[Handler], Awaitable[str]]
) -> None:
    payload = {"data": {"messages": [{"text": "nested hello"}]}, "usage": {"total_tokens": 42}}

    async def handler(request: web.Request) -> web.Response:
        return web.json_response(payload)

    url = await serve(handler)
    target = factory.create(_assistant(url, reply_path="data.messages[0].text"), _auth, {})
    reply = await target.send(_turn())
    assert reply.text == "nested hello"
    assert reply.raw == payload
    assert reply.tokens == 42


async def test_missing_reply_field_names_the_path_and_the_fields_found(
    factory: HttpChatTargetFactory, serve: Callable[[Handler], Awaitable[str]]
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"answer": "wrong field", "id": 3})

    url = await serve(handler)
    target = factory.create(_assistant(url), _auth, {})
    with pytest.raises(TargetError, match=r"no 'reply' field \(found: answer, id\).*replyPath"):
        await target.send(_turn())


async def test_non_string_reply_is_an_error(
    factory: HttpChatTargetFactory, serve: Callable[[Handler], Awaitable[str]]
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"reply": {"text": "hi"}})

    url = await serve(handler)
    target = factory.create(_assistant(url), _auth, {})
    with pytest.raises(TargetError, match="is a dict, expected a string"):
        await target.send(_turn())


@pytest.mark.parametrize(("status", "retryable"), [(502, True), (504, True), (401, False)])
async def test_status_decides_retryable(
    factory: HttpChatTargetFactory,
    serve: Callable[[Handler], Awaitable[str]],
    status: int,
    retryable: bool,
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"error": "nope"}, status=status)

    url = await serve(handler)
    target = factory.create(_assistant(url), _auth, {})
    with pytest.raises(TargetError) as caught:
        await target.send(_turn())
    assert caught.value.retryable is retryable
    assert caught.value.status == status
    assert f"HTTP {status}" in str(caught.value)
    assert url in str(caught.value)


async def test_retry_after_http_date_is_read(
    factory: HttpChatTargetFactory, serve: Callable[[Handler], Awaitable[str]]
) -> None:
    async def handler(request: web.Request) -> web.Response:
        later = format_datetime(datetime.now(UTC) + timedelta(seconds=5), usegmt=True)
        return web.json_response({"error": "busy"}, status=503, headers={"Retry-After": later})

    url = await serve(handler)
    target = factory.create(_assistant(url), _auth, {})
    with pytest.raises(TargetError) as caught:
        await target.send(_turn())
    assert caught.value.retry_after is not None
    assert 3.0 <= caught.value.retry_after <= 5.0


async def test_errors_show_a_short_body_excerpt_and_never_header_values(
    factory: HttpChatTargetFactory, serve: Callable[[Handler], Awaitable[str]]
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="x" * 5000, status=500)

    url = await serve(handler)
    assistant = _assistant(url, headers={"x-api-key": "${BOT_KEY}"})
    target = factory.create(assistant, _auth, {"BOT_KEY": SECRET + "-2"})
    with pytest.raises(TargetError) as caught:
        await target.send(_turn())
    message = str(caught.value)
    assert SECRET not in message
    assert len(message) < 400
    assert message.endswith("…")


async def test_header_values_echoed_in_an_error_body_are_masked(
    factory: HttpChatTargetFactory, serve: Callable[[Handler], Awaitable[str]]
) -> None:
    async def handler(request: web.Request) -> web.Response:
        token = request.headers["Authorization"].split()[1]
        return web.json_response(
            {"error": f"token {token} and key {request.headers['x-key']}"}, status=403
        )

    url = await serve(handler)
    assistant = _assistant(url, headers={"x-key": "${BOT_KEY}"})
    target = factory.create(assistant, _auth, {"BOT_KEY": "key-0123456789"})
    with pytest.raises(TargetError) as caught:
        await target.send(_turn())
    message = str(caught.value)
    assert SECRET not in message
    assert "key-0123456789" not in message
    assert "token *** and key ***" in message


async def test_user_info_in_the_url_is_not_shown(factory: HttpChatTargetFactory) -> None:
    async def no_auth() -> Mapping[str, str]:
        return {}

    target = factory.create(_assistant("http://bob:hunter2@127.0.0.1:1"), no_auth, {})
    with pytest.raises(TargetError) as caught:
        await target.send(_turn())
    assert "hunter2" not in str(caught.value)
    assert "could not connect" in str(caught.value)
    assert caught.value.retryable


async def test_a_credential_written_in_the_url_query_is_not_shown(
    factory: HttpChatTargetFactory, serve: Callable[[Handler], Awaitable[str]]
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=500, text="upstream broke")

    async def no_auth() -> Mapping[str, str]:
        return {}

    url = await serve(handler)
    target = factory.create(_assistant(f"{url}?api_key=literal-key-1234&team=qa"), no_auth, {})
    with pytest.raises(TargetError) as caught:
        await target.send(_turn())
    message = str(caught.value)
    assert "literal-key-1234" not in message
    assert "api_key=***&team=qa" in message
    assert "answered HTTP" in message


async def test_credentials_in_both_url_and_header_are_a_clear_error(
    factory: HttpChatTargetFactory,
) -> None:
    target = factory.create(_assistant("http://bob:hunter2@127.0.0.1:1"), _auth, {})
    with pytest.raises(TargetError, match="could not be built") as caught:
        await target.send(_turn())
    assert "hunter2" not in str(caught.value)
    assert SECRET not in str(caught.value)
    assert not caught.value.retryable


async def test_targets_of_one_factory_share_pooled_connections(
    factory: HttpChatTargetFactory, serve: Callable[[Handler], Awaitable[str]]
) -> None:
    peers: list[Any] = []

    async def handler(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        return web.json_response({"reply": "ok"})

    url = await serve(handler)
    first = factory.create(_assistant(url), _auth, {})
    second = factory.create(_assistant(url), _auth, {})
    await first.send(_turn())
    await second.send(_turn())
    assert peers[0] is not None
    assert peers[0] == peers[1]  # the second target reused the first one's kept-alive socket


def test_factory_and_targets_can_be_made_outside_a_running_loop() -> None:
    factory = HttpChatTargetFactory()
    target = factory.create(_assistant("http://127.0.0.1:1"), _auth, {})
    assert target.url == "http://127.0.0.1:1/chat"


def test_entry_point_builds_the_factory_from_the_environment() -> None:
    (entry,) = [e for e in entry_points(group="lamdis.targets") if e.name == "http_chat"]
    create = entry.load()
    assert create is create_target_factory
    assert create({}).channel == "http_chat"
    with pytest.raises(ConfigError, match="LAMDIS_HTTP_POOL_LIMIT must be a positive integer"):
        create({"LAMDIS_HTTP_POOL_LIMIT": "many"})


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("0", 0.0),
        ("2.5", 2.5),
        ("-3", 0.0),
        ("soon", None),
        ("nan", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # a date in the past: go now
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


def test_parse_retry_after_future_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now=now) == 30.0


@given(st.text(max_size=60))
def test_parse_retry_after_never_crashes(header: str) -> None:
    result = parse_retry_after(header)
    assert result is None or result >= 0


async def test_a_redirect_loop_is_a_target_error_naming_the_limit(
    factory: HttpChatTargetFactory, serve: Callable[[Handler], Awaitable[str]]
) -> None:
    hops = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal hops
        hops += 1
        raise web.HTTPTemporaryRedirect("/chat")

    url = await serve(handler)
    target = factory.create(_assistant(url), _auth, {})
    with pytest.raises(TargetError, match="redirected after 5 redirects") as caught:
        await target.send(_turn())
    assert not caught.value.retryable
    assert hops == 5  # five redirect answers, then it stops asking


async def test_a_reply_nested_beyond_the_limit_is_a_target_error(
    factory: HttpChatTargetFactory, serve: Callable[[Handler], Awaitable[str]]
) -> None:
    async def handler(request: web.Request) -> web.Response:
        deep = "[" * 100_000 + "]" * 100_000
        return web.Response(
            text='{"reply": "hi", "x": ' + deep + "}", content_type="application/json"
        )

    url = await serve(handler)
    target = factory.create(_assistant(url), _auth, {})
    with pytest.raises(TargetError, match="nested deeper than 64 levels"):
        await target.send(_turn())


async def test_a_reply_nested_within_the_limit_is_read(
    factory: HttpChatTargetFactory, serve: Callable[[Handler], Awaitable[str]]
) -> None:
    async def handler(request: web.Request) -> web.Response:
        nested = "[" * 60 + "]" * 60
        return web.Response(
            text='{"reply": "[[[[ not nesting", "x": ' + nested + "}",
            content_type="application/json",
        )

    url = await serve(handler)
    reply = await factory.create(_assistant(url), _auth, {}).send(_turn())
    assert reply.text == "[[[[ not nesting"


async def test_input_mappings_join_the_body_and_response_field_path_picks_the_reply(
    factory: HttpChatTargetFactory, serve: Callable[[Handler], Awaitable[str]]
) -> None:
    """The newer format: assistantInputMappings travel beside message/transcript, and a
    responseFieldPath (the turn's, else the environment's) points into nested JSON."""
    bodies: list[dict[str, Any]] = []

    async def handler(request: web.Request) -> web.Response:
        bodies.append(await request.json())
        return web.json_response(
            {"data": {"response": "nested", "items": [{"text": "first"}]}, "reply": "top"}
        )

    url = await serve(handler)
    env_level = factory.create(_assistant(url, response_field_path="data.response"), _auth, {})
    turn = TurnRequest(message="hi", transcript=[], extra={"conversationId": "c-1"})
    assert (await env_level.send(turn)).text == "nested"
    assert bodies[0] == {"message": "hi", "transcript": [], "conversationId": "c-1"}
    per_turn = TurnRequest(message="hi", transcript=[], reply_path="data.items[0].text")
    assert (await env_level.send(per_turn)).text == "first"
    plain = factory.create(_assistant(url), _auth, {})
    assert (await plain.send(_turn())).text == "top"
    with pytest.raises(TargetError, match=r"no 'data\.missing' field"):
        await plain.send(TurnRequest(message="hi", transcript=[], reply_path="data.missing"))
