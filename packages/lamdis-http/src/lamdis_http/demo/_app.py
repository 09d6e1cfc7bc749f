"""The demo assistant as an aiohttp application: chat, accounts API, OAuth token endpoint."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import json
import random
import re
import secrets
import time
from collections import Counter
from typing import Any

import attrs
from aiohttp import web
from lamdis_core.logs import get_logger

from lamdis_http.demo._replies import compose_reply

logger = get_logger()

DEFAULT_CLIENT_ID = "demo-client"
DEFAULT_CLIENT_SECRET = "demo-secret"
DEFAULT_STATIC_TOKEN = "demo-token"
DEFAULT_TOKEN_TTL_S = 3600
RISK_LEVELS = ("low", "moderate", "high")
# A hung request waits for the server to stop, but never longer than this.
HANG_LIMIT_S = 600.0

_FAULT = re.compile(r"#fail:([a-z0-9]+)", re.IGNORECASE)
_DELAY = re.compile(r"#delay:(\d+)", re.IGNORECASE)
_FLAKY = re.compile(r"#flaky:(\d+)", re.IGNORECASE)
_FAULT_HEADER = "X-Demo-Fail"
_STATUS_FAULTS = {"400": 400, "500": 500, "502": 502, "503": 503, "504": 504, "429": 429}


@attrs.define(kw_only=True)
class DemoState:
    """Everything the demo keeps in memory; one per application."""

    latency_s: float
    client_id: str
    client_secret: str
    static_token: str
    token_ttl_s: int
    accounts: dict[str, dict[str, Any]] = attrs.Factory(dict)
    tokens: dict[str, float] = attrs.Factory(dict)  # token -> expiry (monotonic seconds)
    next_account: int = 1001
    flaky_seen: Counter[str] = attrs.Factory(Counter)
    counts: Counter[str] = attrs.Factory(Counter)
    stopping: asyncio.Event = attrs.Factory(asyncio.Event)
    correct_rate: float = 1.0
    rng: random.Random = attrs.Factory(random.Random)

    def token_is_valid(self, token: str) -> bool:
        if hmac.compare_digest(token.encode(), self.static_token.encode()):
            return True
        expiry = self.tokens.get(token)
        return expiry is not None and expiry > time.monotonic()


STATE = web.AppKey("demo_state", DemoState)

WRONG_REPLY = "Sure, go for it! Just buy whatever is trending this week."
"""What a flaky demo (``correct_rate`` below 1) answers when it gets it wrong."""


def make_demo_app(
    latency_ms: float = 0,
    *,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    static_token: str = DEFAULT_STATIC_TOKEN,
    token_ttl_s: int = DEFAULT_TOKEN_TTL_S,
    correct_rate: float = 1.0,
    seed: int | None = None,
) -> web.Application:
    """Build the demo assistant.

    Args:
        latency_ms: added before every ``/chat`` reply, to imitate a model's thinking time.
        client_id: the OAuth client id ``/oauth/token`` accepts.
        client_secret: the OAuth client secret ``/oauth/token`` accepts.
        static_token: a bearer token the accounts API always accepts.
        token_ttl_s: lifetime of the tokens ``/oauth/token`` issues (``expires_in``).
        correct_rate: the probability that a chat reply is the correct one; otherwise it is
            :data:`WRONG_REPLY` (no disclaimer, no risk words). Below 1 the demo is a flaky
            assistant, for trying ``--repeat`` and pass-rate gates.
        seed: seeds that draw, so a flaky demo answers the same sequence every time.
    """
    if latency_ms < 0:
        raise ValueError(f"latency_ms must be >= 0, got {latency_ms}")
    if not 0.0 <= correct_rate <= 1.0:
        raise ValueError(f"correct_rate must be between 0 and 1, got {correct_rate}")
    app = web.Application()
    app[STATE] = DemoState(
        latency_s=latency_ms / 1000,
        client_id=client_id,
        client_secret=client_secret,
        static_token=static_token,
        token_ttl_s=token_ttl_s,
        correct_rate=correct_rate,
        rng=random.Random(seed),
    )
    app.router.add_get("/health", _health)
    app.router.add_post("/chat", _chat)
    app.router.add_post("/oauth/token", _token)
    app.router.add_get("/accounts", _list_accounts)
    app.router.add_post("/accounts", _create_account)
    app.router.add_get("/accounts/{id}", _get_account)
    app.router.add_patch("/accounts/{id}", _update_account)
    app.router.add_get("/demo/stats", _stats)
    app.on_shutdown.append(_release_hung_requests)
    return app


async def start_demo_server(
    host: str = "127.0.0.1",
    port: int = 0,
    latency_ms: float = 0,
    *,
    correct_rate: float = 1.0,
    seed: int | None = None,
) -> tuple[web.AppRunner, str]:
    """Start the demo assistant; ``port=0`` picks a free one (see :func:`make_demo_app`).

    Returns:
        The runner (``await runner.cleanup()`` stops the server) and the base URL.
    """
    # A short shutdown timeout: the demo holds no work worth waiting for.
    runner = web.AppRunner(
        make_demo_app(latency_ms, correct_rate=correct_rate, seed=seed),
        access_log=None,
        shutdown_timeout=1.0,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_port = port
    for address in runner.addresses:
        if isinstance(address, tuple):
            bound_port = int(address[1])
            break
    shown_host = f"[{host}]" if ":" in host else host
    return runner, f"http://{shown_host}:{bound_port}"


async def _release_hung_requests(app: web.Application) -> None:
    app[STATE].stopping.set()


async def _pause(state: DemoState, seconds: float) -> None:
    """Wait ``seconds``, or less if the server starts stopping: a slow or hung request must
    not outlive the server (its handler task would be destroyed while pending)."""
    if seconds <= 0 or state.stopping.is_set():
        return
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await state.stopping.wait()


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "service": "lamdis-demo-assistant"})


async def _stats(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return web.json_response({**state.counts, "accounts": len(state.accounts)})


# --- chat ----------------------------------------------------------------------------------


async def _chat(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    state.counts["chat_requests"] += 1
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _error(400, "body must be JSON: {message, transcript?, persona?}")
    if not isinstance(body, dict) or not isinstance(body.get("message"), str):
        return _error(400, "body must be an object with a string 'message'")
    message: str = body["message"]
    transcript = body.get("transcript") or []
    if not isinstance(transcript, list) or not all(isinstance(t, dict) for t in transcript):
        return _error(400, "'transcript' must be a list of {role, content} objects")
    persona = body.get("persona")
    if persona is not None and not isinstance(persona, str):
        return _error(400, "'persona' must be a string")

    fault = request.headers.get(_FAULT_HEADER)
    if fault is None and (match := _FAULT.search(message)):
        fault = match.group(1)
    if fault is not None:
        return await _fault(request, fault.lower(), state)
    if match := _FLAKY.search(message):
        state.flaky_seen[message] += 1
        if state.flaky_seen[message] <= int(match.group(1)):
            return web.json_response(
                {"error": "demo flaky failure (#flaky)"}, status=503, headers={"Retry-After": "0"}
            )
    delay_s = state.latency_s
    if match := _DELAY.search(message):
        delay_s += int(match.group(1)) / 1000
    await _pause(state, delay_s)

    if "#echo" in message.lower():
        received = {"message": message, "transcript": transcript, "persona": persona}
        reply = "Echo: " + json.dumps(received, ensure_ascii=False, sort_keys=True)
    elif state.correct_rate < 1.0 and state.rng.random() >= state.correct_rate:
        state.counts["wrong_replies"] += 1
        reply = WRONG_REPLY
    else:
        reply = compose_reply(message, transcript, persona, state.accounts.get)
    return web.json_response({"reply": reply, "turn": len(transcript) // 2 + 1})


async def _fault(request: web.Request, fault: str, state: DemoState) -> web.StreamResponse:
    state.counts[f"fault_{fault}"] += 1
    if fault in _STATUS_FAULTS:
        status = _STATUS_FAULTS[fault]
        headers = {"Retry-After": "0"} if status in (429, 503) else {}
        return web.json_response(
            {"error": f"demo failure (#fail:{fault})"}, status=status, headers=headers
        )
    if fault == "nonjson":
        return web.Response(
            text="<html><body>Internal proxy page</body></html>", content_type="text/html"
        )
    if fault == "empty":
        return web.json_response({"reply": ""})
    if fault == "noreply":
        return web.json_response({"answer": "The reply is in the wrong field."})
    if fault == "hang":
        await _pause(state, HANG_LIMIT_S)
        return _error(503, "demo hang ended (#fail:hang)")
    if fault == "reset":
        transport = request.transport
        if transport is not None:
            transport.abort()
        raise asyncio.CancelledError  # nothing more to say on a connection we just dropped
    return _error(
        400,
        f"unknown demo fault {fault!r}; expected one of: "
        "400, 429, 500, 502, 503, 504, nonjson, empty, noreply, hang, reset",
    )


# --- OAuth ---------------------------------------------------------------------------------


async def _token(request: web.Request) -> web.Response:
    state = request.app[STATE]
    form = await request.post()
    if form.get("grant_type") != "client_credentials":
        return web.json_response(
            {"error": "unsupported_grant_type", "error_description": "use client_credentials"},
            status=400,
        )
    client_id = form.get("client_id")
    client_secret = form.get("client_secret")
    basic = _basic_credentials(request.headers.get("Authorization", ""))
    if basic is not None:
        client_id, client_secret = basic
    if not (
        isinstance(client_id, str)
        and isinstance(client_secret, str)
        and hmac.compare_digest(client_id.encode(), state.client_id.encode())
        and hmac.compare_digest(client_secret.encode(), state.client_secret.encode())
    ):
        return web.json_response(
            {"error": "invalid_client", "error_description": "unknown client id or wrong secret"},
            status=401,
            headers={"WWW-Authenticate": 'Basic realm="demo"'},
        )
    token = secrets.token_urlsafe(24)
    state.tokens[token] = time.monotonic() + state.token_ttl_s
    state.counts["tokens_issued"] += 1
    payload: dict[str, Any] = {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": state.token_ttl_s,
    }
    scope = form.get("scope")
    if isinstance(scope, str) and scope:
        payload["scope"] = scope
    return web.json_response(payload)


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


# --- accounts ------------------------------------------------------------------------------


def _authorized(request: web.Request) -> web.Response | None:
    """``None`` when the bearer token is good, else the 401 to send."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token and request.app[STATE].token_is_valid(token.strip()):
        return None
    return web.json_response(
        {"error": "unauthorized", "error_description": "send Authorization: Bearer <token>"},
        status=401,
        headers={"WWW-Authenticate": 'Bearer realm="demo"'},
    )


async def _json_object(request: web.Request) -> dict[str, Any] | web.Response:
    if not request.body_exists:
        return {}
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _error(400, "body must be a JSON object")
    if body is None:
        return {}
    if not isinstance(body, dict):
        return _error(400, f"body must be a JSON object, got {type(body).__name__}")
    return body


def _check_fields(body: dict[str, Any], allowed: tuple[str, ...]) -> web.Response | None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        return _error(400, f"unknown field(s) {unknown}; expected any of {list(allowed)}")
    risk = body.get("risk_level")
    if risk is not None and risk not in RISK_LEVELS:
        return _error(400, f"risk_level must be one of {list(RISK_LEVELS)}, got {risk!r}")
    status = body.get("status")
    if status is not None and not isinstance(status, str):
        return _error(400, "status must be a string")
    return None


async def _list_accounts(request: web.Request) -> web.Response:
    if denied := _authorized(request):
        return denied
    return web.json_response({"accounts": list(request.app[STATE].accounts.values())})


async def _create_account(request: web.Request) -> web.Response:
    if denied := _authorized(request):
        return denied
    body = await _json_object(request)
    if isinstance(body, web.Response):
        return body
    if problem := _check_fields(body, ("id", "risk_level", "status")):
        return problem
    state = request.app[STATE]
    account_id = body.get("id")
    if account_id is None:
        account_id = f"acct-{state.next_account}"
        state.next_account += 1
    elif not isinstance(account_id, str | int) or isinstance(account_id, bool):
        return _error(400, "id must be a string or an integer")
    account = {
        "id": account_id,
        "risk_level": body.get("risk_level", "moderate"),
        "status": body.get("status", "open"),
    }
    state.accounts[str(account_id)] = account
    return web.json_response(account, status=201)


async def _get_account(request: web.Request) -> web.Response:
    if denied := _authorized(request):
        return denied
    account = request.app[STATE].accounts.get(request.match_info["id"])
    if account is None:
        return _error(404, f"no account {request.match_info['id']!r}")
    return web.json_response(account)


async def _update_account(request: web.Request) -> web.Response:
    if denied := _authorized(request):
        return denied
    account = request.app[STATE].accounts.get(request.match_info["id"])
    if account is None:
        return _error(404, f"no account {request.match_info['id']!r}")
    body = await _json_object(request)
    if isinstance(body, web.Response):
        return body
    if problem := _check_fields(body, ("risk_level", "status")):
        return problem
    account.update(body)
    return web.json_response(account)
