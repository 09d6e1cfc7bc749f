"""What the configurable channels do beyond the Target contract, against real loopback bots:
sessions, cookies, trace context, tool calls, streaming measurements, errors that name
their path and show what was received, and secrets kept out of messages."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import attrs
import pytest
from aiohttp import web
from lamdis_core.domain import config as c
from lamdis_core.domain.errors import ConfigError, TargetError
from lamdis_core.ports.target import ConversationalTarget, Target, TargetFactory, TurnRequest
from lamdis_http.targets import create_sse_factory, create_target_factory, create_websocket_factory
from structlog.testing import capture_logs

from tests.fakes.channel_bots import BotState, serve_bots
from tests.http._channels import example_assistant

SECRET = "s3cret-token-value-123"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def bots() -> AsyncIterator[tuple[str, BotState]]:
    async with serve_bots() as served:
        yield served


@pytest.fixture
async def http_factory() -> AsyncIterator[TargetFactory]:
    factory = create_target_factory({})
    yield factory
    await factory.aclose()


@pytest.fixture
async def sse_factory() -> AsyncIterator[TargetFactory]:
    factory = create_sse_factory({})
    yield factory
    await factory.aclose()


@pytest.fixture
async def ws_factory() -> AsyncIterator[TargetFactory]:
    factory = create_websocket_factory({})
    yield factory
    await factory.aclose()


async def _no_auth() -> Mapping[str, str]:
    return {}


async def _serve(handler: Handler, *paths: str) -> tuple[web.AppRunner, str]:
    """A bot made for one test, answering POST ``paths`` on a free loopback port: its runner
    and base URL."""
    app = web.Application()
    app.add_routes([web.post(path, handler) for path in paths])
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    return runner, f"http://127.0.0.1:{port}"


def _sse_assistant(base_url: str, **options: Any) -> c.Assistant:
    return c.Assistant(
        id="s",
        env=c.AssistantEnv(channel="sse", base_url=base_url),
        request=c.ChannelRequest(path="/s", body={"q": "{{message}}"}),
        **options,
    )


def _turn(message: str, conversation: str, turn: int = 1, **extra: Any) -> TurnRequest:
    return TurnRequest(
        message=message, transcript=[], conversation_id=conversation, turn=turn, **extra
    )


CONV_A = "a" * 32
CONV_B = "b" * 32


async def test_rest_session_starts_once_is_sent_back_and_closed(
    bots: tuple[str, BotState], http_factory: TargetFactory
) -> None:
    url, state = bots
    target = http_factory.create(example_assistant("rest-session", url), _no_auth, {})
    first = await target.send(_turn("Hello", CONV_A, 1))
    second = await target.send(_turn("And refunds?", CONV_A, 2))
    other = await target.send(_turn("Hello", CONV_B, 1))
    assert first.text.endswith("(turn 1)")
    assert second.text.endswith("(turn 2)")  # the same server-side conversation
    assert other.text.endswith("(turn 1)")  # a second conversation got its own session
    assert len(state.conversations) == 2
    assert isinstance(target, ConversationalTarget)
    await target.end_conversation(CONV_A)
    await target.end_conversation(CONV_B)
    assert sorted(state.closed) == sorted(state.conversations)
    await target.aclose()


async def test_cookies_are_kept_per_conversation(
    bots: tuple[str, BotState], http_factory: TargetFactory
) -> None:
    url, state = bots
    target = http_factory.create(example_assistant("cookie-session", url), _no_auth, {})
    assert "[1 in session]" in (await target.send(_turn("Hello", CONV_A))).text
    assert "[2 in session]" in (await target.send(_turn("Refund?", CONV_A, 2))).text
    assert "[1 in session]" in (await target.send(_turn("Hello", CONV_B))).text
    assert len(state.conversations) == 2
    form = state.bodies[0]
    assert form["message"] == "Hello"  # form-encoded, decoded by the bot
    await target.aclose()


async def test_a_plain_text_reply_is_the_whole_body(
    bots: tuple[str, BotState], http_factory: TargetFactory
) -> None:
    url, _ = bots
    base = example_assistant("cookie-session", url)
    assert base.request is not None
    assistant = attrs.evolve(
        base,
        request=attrs.evolve(base.request, query={"format": "text"}),
        response=c.ChannelResponse(format="text"),
    )
    target = http_factory.create(assistant, _no_auth, {})
    reply = await target.send(_turn("How do refunds work?", CONV_A))
    assert reply.text.startswith("You can get a refund within 30 days")
    await target.aclose()


async def test_traceparent_has_one_trace_per_conversation_and_a_span_per_turn(
    bots: tuple[str, BotState], http_factory: TargetFactory
) -> None:
    url, state = bots
    target = http_factory.create(example_assistant("tool-calling", url), _no_auth, {})
    await target.send(_turn("Hello", CONV_A, 1))
    await target.send(_turn("Hello again", CONV_A, 2))
    headers = [h["traceparent"] for h in state.headers]
    parsed = [re.fullmatch(r"00-([0-9a-f]{32})-([0-9a-f]{16})-01", h) for h in headers]
    assert all(parsed), headers
    assert {m.group(1) for m in parsed if m} == {CONV_A}
    assert len({m.group(2) for m in parsed if m}) == 2
    await target.aclose()


async def test_the_plain_http_chat_channel_sends_traceparent_too(demo_url: str) -> None:
    seen: list[str] = []

    async def chat(request: web.Request) -> web.Response:
        seen.append(request.headers.get("traceparent", ""))
        return web.json_response({"reply": "hello"})

    runner, base_url = await _serve(chat, "/chat")
    factory = create_target_factory({})
    try:
        assistant = c.Assistant(id="a", env=c.AssistantEnv(base_url=base_url))
        target = factory.create(assistant, _no_auth, {})
        await target.send(_turn("hi", CONV_A))
    finally:
        await factory.aclose()
        await runner.cleanup()
    assert seen and seen[0].startswith(f"00-{CONV_A}-")


async def test_openai_tool_calls_are_recorded_with_decoded_arguments(
    bots: tuple[str, BotState], http_factory: TargetFactory
) -> None:
    url, _ = bots
    target = http_factory.create(example_assistant("tool-calling", url), _no_auth, {})
    reply = await target.send(_turn("What is the weather in Paris?", CONV_A))
    assert reply.text == ""  # content null: a reply that only calls a tool
    assert [(t.name, t.arguments, t.id) for t in reply.tool_calls] == [
        ("get_weather", {"city": "Paris", "unit": "C"}, "call_7")
    ]
    await target.aclose()


async def test_a_reply_path_that_finds_nothing_names_it_and_shows_the_body(
    bots: tuple[str, BotState], http_factory: TargetFactory
) -> None:
    url, _ = bots
    base = example_assistant("rest-session", url)
    assistant = attrs.evolve(base, response=c.ChannelResponse(reply="$.output.answer"))
    target = http_factory.create(assistant, _no_auth, {})
    with pytest.raises(TargetError) as caught:
        await target.send(_turn("Hello", CONV_A))
    message = str(caught.value)
    assert "$.output.answer found nothing" in message
    assert '"output": {"text": "Hello!' in message  # the first bytes received
    assert not caught.value.retryable
    await target.aclose()


async def test_the_error_condition_turns_a_2xx_answer_into_an_error(
    bots: tuple[str, BotState], http_factory: TargetFactory
) -> None:
    url, _ = bots
    target = http_factory.create(example_assistant("rest-session", url), _no_auth, {})
    with pytest.raises(TargetError) as caught:
        await target.send(_turn("#fail:refused", CONV_A))
    assert '$.status == "error"' in str(caught.value)
    assert "E42" in str(caught.value)
    await target.aclose()


async def test_a_missing_session_value_names_the_placeholder(
    bots: tuple[str, BotState], http_factory: TargetFactory
) -> None:
    url, _ = bots
    base = example_assistant("rest-session", url)
    assert base.request is not None
    assistant = attrs.evolve(
        base,
        session=None,
        request=attrs.evolve(base.request, headers={"X-Session-Id": "{{session.sessionId}}"}),
    )
    target = http_factory.create(assistant, _no_auth, {})
    with pytest.raises(TargetError, match=r"\{\{session.sessionId\}\} has no value"):
        await target.send(_turn("Hello", CONV_A))
    await target.aclose()


async def test_secrets_in_headers_never_reach_error_messages(
    bots: tuple[str, BotState], http_factory: TargetFactory
) -> None:
    """A bot that echoes a secret header back in its error body: the message masks it."""
    url, _ = bots
    base = example_assistant("rest-session", url)
    assert base.request is not None
    assistant = attrs.evolve(
        base,
        env=attrs.evolve(base.env, headers={"Authorization": "Bearer ${BOT_TOKEN}"}),
        response=c.ChannelResponse(reply="$.nowhere"),
        request=attrs.evolve(
            base.request,
            body={"input": {"text": "{{message}} ${BOT_TOKEN}"}, "persona": "x"},
        ),
    )
    target = http_factory.create(assistant, _no_auth, {"BOT_TOKEN": SECRET})
    with pytest.raises(TargetError) as caught:
        await target.send(_turn("Tell me", CONV_A))
    # The bot put the body text (holding the token) in its reply; the path misses, so the
    # error shows the body: masked.
    assert SECRET not in str(caught.value)
    assert "***" in str(caught.value)
    await target.aclose()


async def test_session_values_never_reach_the_close_failure_log(
    bots: tuple[str, BotState], http_factory: TargetFactory
) -> None:
    url, _ = bots
    base = example_assistant("rest-session", url)
    assert base.session is not None
    assistant = attrs.evolve(
        base,
        session=attrs.evolve(
            base.session,
            close=c.ChannelRequest(method="DELETE", path="/nowhere/{{session.sessionId}}"),
        ),
    )
    target = http_factory.create(assistant, _no_auth, {})
    await target.send(_turn("Hello", "c" * 32))
    assert isinstance(target, ConversationalTarget)
    with capture_logs() as logs:
        await target.end_conversation("c" * 32)
    assert [entry["event"] for entry in logs] == ["session_close_failed"]
    assert "conv-" not in repr(logs)  # the session id is masked (and the path shown as a template)
    await target.aclose()


async def test_an_unset_environment_variable_stops_before_any_turn(
    bots: tuple[str, BotState], http_factory: TargetFactory
) -> None:
    url, state = bots
    base = example_assistant("rest-session", url)
    assert base.request is not None
    assistant = attrs.evolve(
        base, request=attrs.evolve(base.request, headers={"X-Key": "${MISSING_KEY}"})
    )
    with pytest.raises(ConfigError, match="MISSING_KEY"):
        http_factory.create(assistant, _no_auth, {})
    assert state.bodies == []


# --- streaming ------------------------------------------------------------------------------


async def test_sse_records_time_to_first_token_and_chunks(
    bots: tuple[str, BotState], sse_factory: TargetFactory
) -> None:
    url, state = bots
    state.chunk_delay_s = 0.02
    target = sse_factory.create(example_assistant("sse-openai", url), _no_auth, {})
    reply = await target.send(_turn("How do refunds work?", CONV_A))
    assert reply.text == "You can get a refund within 30 days of purchase."
    assert reply.chunks == 10
    assert reply.ttft_ms is not None and reply.ttft_ms < reply.latency_ms
    assert reply.latency_ms - reply.ttft_ms >= 9 * 20 * 0.9  # nine more chunks, 20 ms apart
    await target.aclose()


async def test_sse_assembles_streamed_tool_calls(
    bots: tuple[str, BotState], sse_factory: TargetFactory
) -> None:
    url, _ = bots
    target = sse_factory.create(example_assistant("sse-openai", url), _no_auth, {})
    reply = await target.send(_turn("The weather?", CONV_A))
    assert [(t.name, t.arguments) for t in reply.tool_calls] == [
        ("get_weather", {"city": "Paris", "unit": "C"})
    ]
    await target.aclose()


@pytest.mark.parametrize("name", ["sse-openai", "sse-events"])
async def test_a_stream_that_closes_before_its_end_is_an_error_naming_it(
    name: str, bots: tuple[str, BotState], sse_factory: TargetFactory
) -> None:
    url, _ = bots
    target: Target = sse_factory.create(example_assistant(name, url), _no_auth, {})
    with pytest.raises(TargetError) as caught:
        await target.send(_turn("#fail:cut", CONV_A))
    expected = "data: [DONE]" if name == "sse-openai" else "event done"
    assert f"closed before its end ({expected})" in str(caught.value)
    assert "par" in str(caught.value)  # what was received
    await target.aclose()


async def test_websocket_keeps_one_connection_per_conversation_and_measures_ttft(
    bots: tuple[str, BotState], ws_factory: TargetFactory
) -> None:
    url, state = bots
    target = ws_factory.create(example_assistant("websocket", url), _no_auth, {})
    first = await target.send(_turn("Hello", CONV_A))
    second = await target.send(_turn("refund?", CONV_A, 2))
    assert first.text.startswith("Hello!") and "30 days" in second.text
    assert first.ttft_ms is not None and first.chunks and first.chunks > 1
    handshakes = [h for h in state.headers if h.get("Upgrade", "").lower() == "websocket"]
    assert len(handshakes) == 1
    assert isinstance(target, ConversationalTarget)
    await target.end_conversation(CONV_A)
    await target.aclose()


async def test_websocket_closed_mid_reply_is_an_error_showing_what_came(
    bots: tuple[str, BotState], ws_factory: TargetFactory
) -> None:
    url, _ = bots
    target = ws_factory.create(example_assistant("websocket", url), _no_auth, {})
    with pytest.raises(TargetError) as caught:
        await target.send(_turn("#fail:close", CONV_A))
    assert "closed mid-reply" in str(caught.value)
    assert '"content": "part"' in str(caught.value)
    assert caught.value.retryable
    await target.aclose()


async def test_websocket_idle_gap_ends_a_reply(
    bots: tuple[str, BotState], ws_factory: TargetFactory
) -> None:
    url, _ = bots
    base = example_assistant("websocket", url)
    assert base.websocket is not None
    assistant = attrs.evolve(base, websocket=attrs.evolve(base.websocket, done=None, idle_ms=150))
    target = ws_factory.create(assistant, _no_auth, {})
    reply = await target.send(_turn("How do refunds work?", CONV_A))
    assert reply.text == "You can get a refund within 30 days of purchase."
    assert reply.latency_ms >= 150
    await target.aclose()


def test_the_host_limit_can_be_turned_off_and_bad_values_are_refused() -> None:
    factory = create_target_factory({"LAMDIS_HOST_LIMIT": "off"})
    assert not factory.limits.enabled  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="LAMDIS_HOST_LIMIT must be adaptive or off"):
        create_target_factory({"LAMDIS_HOST_LIMIT": "fast"})


async def test_input_mappings_fill_templates_and_response_field_path_overrides_the_reply(
    http_factory: TargetFactory,
) -> None:
    """The newer format on a configurable channel: ``{{inputs.NAME}}`` reads a turn's
    assistantInputMappings, the default body carries them, and a turn's responseFieldPath
    (dotted) replaces ``response.reply`` for that turn."""

    from tests.fixtures.servers import serve_loopback

    bodies: list[Any] = []

    async def handler(request: web.Request) -> web.Response:
        bodies.append(await request.json())
        return web.json_response({"out": {"text": "templated"}, "alt": [{"text": "other"}]})

    app = web.Application()
    app.router.add_post("/chat", handler)
    async with serve_loopback(app) as url:
        templated = c.Assistant(
            id="a",
            env=c.AssistantEnv(base_url=url),
            request=c.ChannelRequest(
                path="/chat", body={"text": "{{message}}", "conv": "{{inputs.conversationId}}"}
            ),
            response=c.ChannelResponse(reply="$.out.text"),
        )
        target = http_factory.create(templated, _no_auth, {})
        reply = await target.send(_turn("hi", CONV_A, extra={"conversationId": "c-9"}))
        assert reply.text == "templated"
        assert bodies[-1] == {"text": "hi", "conv": "c-9"}
        other = await target.send(
            _turn("hi", CONV_A, 2, extra={"conversationId": "c-9"}, reply_path="alt[0].text")
        )
        assert other.text == "other"
        default_body = c.Assistant(
            id="b", env=c.AssistantEnv(base_url=url), response=c.ChannelResponse(reply="$.out.text")
        )
        plain = http_factory.create(default_body, _no_auth, {})
        await plain.send(_turn("yo", CONV_B, extra={"conversationId": "c-10"}))
        assert bodies[-1]["conversationId"] == "c-10" and bodies[-1]["message"] == "yo"


async def test_sse_events_split_across_network_reads_are_joined(sse_factory: TargetFactory) -> None:
    """Lines cut mid-way between two writes (and CRLF line ends) still parse as events."""
    import asyncio

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        wire = (
            'data: {"choices": [{"delta": {"content": "Hel"}}]}\r\n\r\n'
            'data: {"choices": [{"delta": {"content": "lo"}}]}\n\ndata: [DONE]\n\n'
        )
        for piece in (wire[:17], wire[17:60], wire[60:61], wire[61:]):
            await response.write(piece.encode())
            await asyncio.sleep(0.01)
        await response.write_eof()
        return response

    runner, base_url = await _serve(stream, "/s")
    try:
        assistant = _sse_assistant(base_url)
        target = sse_factory.create(assistant, _no_auth, {})
        reply = await target.send(_turn("hi", CONV_A))
    finally:
        await runner.cleanup()
    assert (reply.text, reply.chunks) == ("Hello", 2)


async def test_sse_a_character_split_between_reads_a_custom_content_path_and_a_bad_chunk(
    sse_factory: TargetFactory,
) -> None:
    """A UTF-8 character cut between two network reads arrives whole; contentPath is read;
    a chunk that is not JSON is an error naming it and showing what came."""
    import asyncio

    wire = (
        'data: {"out": {"t": "gr\u00fc"}}\n\ndata: {"out": {"t": null}}\n\n'
        'data: {"out": {"t": "\u00dfe"}}\n\ndata: [DONE]\n\n'
    ).encode()
    cut = wire.index("\u00df".encode()) + 1  # between the two bytes of the character
    broken = b'data: {"out": {"t": "a"}}\n\ndata: {"out": oops\n\ndata: [DONE]\n\n'

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        pieces = (broken,) if request.path == "/broken" else (wire[:cut], wire[cut:])
        for piece in pieces:
            await response.write(piece)
            await asyncio.sleep(0.01)
        await response.write_eof()
        return response

    runner, base_url = await _serve(stream, "/s", "/broken")
    try:
        assistant = _sse_assistant(base_url, sse=c.SseSpec(content_path="$.out.t"))
        target = sse_factory.create(assistant, _no_auth, {})
        reply = await target.send(_turn("hi", CONV_A))
        bad = sse_factory.create(
            attrs.evolve(assistant, request=c.ChannelRequest(path="/broken", body={"q": "x"})),
            _no_auth,
            {},
        )
        with pytest.raises(TargetError) as caught:
            await bad.send(_turn("hi", CONV_B))
    finally:
        await runner.cleanup()
    assert (reply.text, reply.chunks) == ("gr\u00fc\u00dfe", 2)
    assert "an event's data is not JSON" in str(caught.value)
    assert '{"out": oops' in str(caught.value)  # what was received, up to the bad chunk


async def test_sse_keeps_its_connection_when_the_server_ends_the_response_after_done(
    sse_factory: TargetFactory,
) -> None:
    """A server that ends the response a little after ``[DONE]`` keeps one connection over
    the turns (closing it early would cost every turn a new one); one that goes on streaming
    after ``[DONE]`` does not hold the turn, and its connection is closed, not reused."""
    import asyncio
    import time

    peers: list[tuple[str, Any]] = []

    async def stream(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        peers.append((request.path, request.transport.get_extra_info("peername")))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(
            b'data: {"choices": [{"delta": {"content": "ok"}}]}\n\ndata: [DONE]\n\n'
        )
        for _ in range(1 if request.path == "/s" else 400):
            await asyncio.sleep(0.02)
            if request.path != "/s":
                await response.write(b": still here\n\n")
        await response.write_eof()
        return response

    runner, base_url = await _serve(stream, "/s", "/endless")
    assistant = _sse_assistant(base_url)
    try:
        target = sse_factory.create(assistant, _no_auth, {})
        for turn in range(4):
            assert (await target.send(_turn("hi", CONV_A, turn=turn + 1))).text == "ok"
            await asyncio.sleep(0.05)  # the server ends the response meanwhile
        endless = sse_factory.create(
            attrs.evolve(assistant, request=c.ChannelRequest(path="/endless", body={})),
            _no_auth,
            {},
        )
        started = time.monotonic()
        assert (await endless.send(_turn("hi", CONV_B))).text == "ok"
        assert time.monotonic() - started < 1.0
        await asyncio.sleep(1.2)  # longer than a response is given to end
        await endless.send(_turn("hi", CONV_B, turn=2))
    finally:
        await sse_factory.aclose()
        await runner.cleanup()
    kept = {peer for path, peer in peers if path == "/s"}
    assert len(kept) == 1, peers
    assert peers[-1][1] != peers[-2][1], peers  # the endless response's connection was closed


async def test_sse_event_framing_comments_names_multiline_data_and_a_last_event_unended(
    sse_factory: TargetFactory,
) -> None:
    """Comments are skipped, ``event:`` names an event, several ``data:`` lines join with a
    newline, CRLF and LF mix, and a stream that closes without a blank line after its last
    event still delivers it."""

    wire = (
        ': ping\n\nevent: token\ndata: {"t": "a"}\r\n\r\n'
        'event: meta\ndata: {"t": "not text"}\n\n'
        'event: token\ndata: {"t":\r\ndata: "b"}\n\n'
        '\n\nevent: token\ndata:{"t": "d"}\n\n'
        'event: token\ndata: {"t": "e"}\r'
    )

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(wire.encode())
        await response.write_eof()
        return response

    runner, base_url = await _serve(stream, "/s")
    try:
        assistant = _sse_assistant(
            base_url, sse=c.SseSpec(format="events", events={"token": "$.t"})
        )
        target = sse_factory.create(assistant, _no_auth, {})
        reply = await target.send(_turn("hi", CONV_A))
    finally:
        await runner.cleanup()
    assert (reply.text, reply.chunks) == ("abde", 4)
    assert [event["event"] for event in reply.raw["events"]] == [
        "token",
        "meta",
        "token",
        "token",
        "token",
    ]


async def test_a_stream_that_never_ends_times_out_naming_its_end_and_what_came(
    bots: tuple[str, BotState],
) -> None:
    url, _ = bots
    factory = create_sse_factory({})
    assistant = example_assistant("sse-openai", url, timeout_ms=300)
    target = factory.create(assistant, _no_auth, {})
    try:
        with pytest.raises(TargetError) as caught:
            await target.send(_turn("#fail:stall", CONV_A))
    finally:
        await factory.aclose()
    message = str(caught.value)
    assert "did not reach its end (data: [DONE]) within 0.3 s" in message
    assert "partial" in message
    assert caught.value.retryable
