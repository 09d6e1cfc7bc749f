"""AiohttpRequester against real loopback servers: bodies, query, forms, errors, pooling."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from lamdis_core.domain.errors import RequestError
from lamdis_core.ports.requester import HttpCall
from lamdis_http.requests import AiohttpRequester

from tests.fixtures.servers import serve_loopback


@pytest.fixture
async def requester() -> AsyncIterator[AiohttpRequester]:
    made = AiohttpRequester()
    yield made
    await made.aclose()


@pytest.fixture
async def echo_url() -> AsyncIterator[str]:
    """A server that describes the request it got; /text, /slow and /lying-json vary the reply."""

    async def echo(request: web.Request) -> web.Response:
        form = dict(await request.post()) if request.content_type.endswith("urlencoded") else None
        body: Any = None
        if request.content_type == "application/json":
            body = await request.json()
        peer = request.transport.get_extra_info("peername") if request.transport else None
        return web.json_response(
            {
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "json": body,
                "form": form,
                "auth": request.headers.get("Authorization"),
                "peer": list(peer) if peer else None,
            },
            status=int(request.query.get("status", "200")),
            headers={"X-Trace": "a"},
        )

    async def text(request: web.Request) -> web.Response:
        return web.Response(text="plain words", status=404)

    async def lying_json(request: web.Request) -> web.Response:
        return web.Response(text="not json {", content_type="application/json")

    async def empty_json(request: web.Request) -> web.Response:
        return web.Response(status=204, content_type="application/json")

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({})

    app = web.Application()
    app.router.add_route("*", "/echo/{tail:.*}", echo)
    app.router.add_get("/text", text)
    app.router.add_get("/lying-json", lying_json)
    app.router.add_get("/empty-json", empty_json)
    app.router.add_get("/slow", slow)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_json_body_query_and_headers_are_sent(
    requester: AiohttpRequester, echo_url: str
) -> None:
    result = await requester.send(
        HttpCall(
            method="post",
            url=f"{echo_url}/echo/accounts",
            headers={"Authorization": "Bearer t"},
            query={"page": "2"},
            json={"risk_level": "high", "n": 3},
        )
    )
    assert result.ok
    assert result.body["method"] == "POST"
    assert result.body["path"] == "/echo/accounts"
    assert result.body["query"] == {"page": "2"}
    assert result.body["json"] == {"risk_level": "high", "n": 3}
    assert result.body["auth"] == "Bearer t"
    assert result.headers["x-trace"] == "a"
    assert result.latency_ms > 0


async def test_form_body_is_url_encoded(requester: AiohttpRequester, echo_url: str) -> None:
    result = await requester.send(
        HttpCall(
            method="POST", url=f"{echo_url}/echo/token", form={"grant_type": "client_credentials"}
        )
    )
    assert result.body["form"] == {"grant_type": "client_credentials"}
    assert result.body["json"] is None


async def test_non_2xx_is_returned_not_raised(requester: AiohttpRequester, echo_url: str) -> None:
    result = await requester.send(HttpCall(method="GET", url=f"{echo_url}/echo/x?status=418"))
    assert result.status == 418
    assert not result.ok


async def test_text_bodies_stay_text(requester: AiohttpRequester, echo_url: str) -> None:
    result = await requester.send(HttpCall(method="GET", url=f"{echo_url}/text"))
    assert result.status == 404
    assert result.body == "plain words"


async def test_json_content_type_that_does_not_parse_gives_the_text(
    requester: AiohttpRequester, echo_url: str
) -> None:
    result = await requester.send(HttpCall(method="GET", url=f"{echo_url}/lying-json"))
    assert result.body == "not json {"


async def test_empty_json_body_is_none(requester: AiohttpRequester, echo_url: str) -> None:
    result = await requester.send(HttpCall(method="GET", url=f"{echo_url}/empty-json"))
    assert result.status == 204
    assert result.body is None


async def test_timeout_is_a_retryable_request_error(
    requester: AiohttpRequester, echo_url: str
) -> None:
    with pytest.raises(RequestError, match=r"no response within 0.2 s") as caught:
        await requester.send(HttpCall(method="GET", url=f"{echo_url}/slow", timeout_s=0.2))
    assert caught.value.retryable
    assert caught.value.status is None


async def test_connection_refused_is_a_retryable_request_error(
    requester: AiohttpRequester,
) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(
        RequestError, match=rf"GET http://127.0.0.1:{port}/x: could not connect"
    ) as caught:
        await requester.send(HttpCall(method="GET", url=f"http://127.0.0.1:{port}/x"))
    assert caught.value.retryable


async def test_invalid_url_is_not_retryable(requester: AiohttpRequester) -> None:
    with pytest.raises(RequestError, match="not a valid URL") as caught:
        await requester.send(HttpCall(method="GET", url="/relative/only"))
    assert not caught.value.retryable


async def test_connections_are_pooled_and_aclose_is_idempotent(
    requester: AiohttpRequester, echo_url: str
) -> None:
    first = await requester.send(HttpCall(method="GET", url=f"{echo_url}/echo/a"))
    second = await requester.send(HttpCall(method="GET", url=f"{echo_url}/echo/b"))
    assert first.body["peer"] == second.body["peer"]
    await requester.aclose()
    await requester.aclose()
    # A closed requester opens a fresh session on the next call.
    third = await requester.send(HttpCall(method="GET", url=f"{echo_url}/echo/c"))
    assert third.ok


async def test_a_redirect_loop_and_absurd_nesting_are_request_errors(
    requester: AiohttpRequester,
) -> None:
    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    async def deep(request: web.Request) -> web.Response:
        return web.Response(text="[" * 100_000 + "]" * 100_000, content_type="application/json")

    app = web.Application()
    app.router.add_get("/loop", loop)
    app.router.add_get("/deep", deep)
    async with serve_loopback(app) as url:
        with pytest.raises(RequestError, match="redirected after 5 redirects") as looped:
            await requester.send(HttpCall(method="GET", url=f"{url}/loop"))
        assert not looped.value.retryable
        with pytest.raises(RequestError, match="nested deeper than 64 levels"):
            await requester.send(HttpCall(method="GET", url=f"{url}/deep"))
