"""The engine masks credentials in every item before anyone sees it (issue 16 item 8)."""

from __future__ import annotations

from typing import Any

from lamdis_core.domain import config as c
from lamdis_core.domain.plan import PlanEntry
from lamdis_core.domain.results import ItemStatus
from lamdis_core.ports.requester import HttpCall
from lamdis_core.testing.fakes import FakeRequester

from tests.unit.engine.test_engine import engine_with, make_test, plan_of


async def test_items_reach_the_observer_with_credentials_masked() -> None:
    """A reply echoing an OAuth token (fetched mid-run) or a credential-named variable, in
    lower case, is masked before the observer (console, stored runs) and the result see it."""
    seen: list[Any] = []

    class Observer:
        async def item_started(self, entry: PlanEntry, repeat: int) -> None: ...
        async def turn_finished(self, entry: PlanEntry, repeat: int, turn: int) -> None: ...
        async def item_finished(self, item: Any) -> None:
            seen.append(item)

    def route(call: HttpCall) -> Any:
        if call.url.endswith("/token"):
            return {"access_token": "Oauth-Tok-777xyz", "expires_in": 3600}
        return {"echo": call.headers.get("Authorization", "").lower()}

    engine, _, _ = engine_with(
        lambda turn: "your key is my-api-key-123456".upper(),
        requester=FakeRequester(route),
        env={"SECRET": "client-secret-1", "BOT_API_KEY": "my-api-key-123456"},
    )
    oauth = c.OAuthClientCredentials(
        id="o", client_id="cid", client_secret="${SECRET}", token_url="http://auth.invalid/token"
    )
    requests = {
        "me": c.RequestDef(
            id="me",
            auth=c.AuthRef(auth_ref="auth/o"),
            transport=c.Transport(http=c.HttpSpec(method="GET", full_url="http://api.invalid/me")),
        )
    }
    test = make_test(
        steps=[
            {"type": "message", "content": "hi"},
            {"type": "request", "requestId": "me", "assign": "me"},
            {"type": "json_path", "source": "var.me", "path": "echo", "equals": "nobody"},
        ]
    )
    result = await engine.run(
        plan_of(test, requests=requests, auths={"auth/o": oauth}), observer=Observer()
    )
    assert seen and seen[0] is result.items[0]
    text = repr(result.items[0])
    assert "oauth-tok-777xyz" not in text.lower() and "my-api-key-123456" not in text.lower()
    assert result.items[0].transcript[-1].content == "YOUR KEY IS ***"
    assert result.items[0].status is ItemStatus.FAILED


async def test_credential_headers_of_channel_requests_are_masked_too() -> None:
    """A literal credential in an assistant's request/websocket headers (issue 10 channels),
    echoed back in a reply, is masked in the item."""
    engine, _, _ = engine_with(lambda turn: "I saw lit-token-98765 and ws-token-4321")
    assistant = c.Assistant(
        id="bot",
        env=c.AssistantEnv(base_url="http://bot.invalid"),
        request=c.ChannelRequest(headers={"X-Api-Key": "lit-token-98765"}),
        websocket=c.WebSocketSpec(headers={"Authorization": "Bearer ws-token-4321"}),
    )
    test = make_test(steps=[{"type": "message", "content": "hi"}])
    result = await engine.run(plan_of(test, assistant=assistant))
    assert result.items[0].transcript[-1].content == "I saw *** and ***"
