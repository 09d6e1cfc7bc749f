"""Auth: token (x-api-token or Bearer) and HMAC signatures, on every route but /health."""

from __future__ import annotations

import json
import time

import pytest
from lamdis_core.ports.store import RunFilter
from lamdis_http._auth import signature, signed_headers
from structlog.testing import capture_logs

from tests.http.conftest import SECRET, TOKEN, MakeService, Service


@pytest.fixture
async def guarded(make_service: MakeService) -> Service:
    return await make_service(token=TOKEN)


@pytest.fixture
async def signed(make_service: MakeService) -> Service:
    return await make_service(token=TOKEN, secret=SECRET)


async def test_health_needs_no_credentials(guarded: Service) -> None:
    resp = await guarded.client.get("/health")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "ok" and body["judge"] == "offline"


async def test_no_token_is_401_with_a_problem_body(guarded: Service) -> None:
    for method, path in (
        ("GET", "/internal/runs"),
        ("POST", "/internal/runs/start"),
        ("GET", "/openapi.json"),
        ("GET", "/orgs/acme/suites"),
        ("POST", "/orgs/acme/judge"),
    ):
        resp = await guarded.client.request(method, path)
        assert resp.status == 401, path
        assert resp.content_type == "application/problem+json"
        assert "token" in (await resp.json())["detail"]


async def test_wrong_token_is_401(guarded: Service) -> None:
    resp = await guarded.client.get("/internal/runs", headers={"x-api-token": "wrong"})
    assert resp.status == 401
    assert (await resp.json())["detail"] == "invalid API token"


async def test_x_api_token_is_accepted(guarded: Service) -> None:
    resp = await guarded.client.get("/internal/runs", headers={"x-api-token": TOKEN})
    assert resp.status == 200


async def test_bearer_token_is_accepted(guarded: Service) -> None:
    resp = await guarded.client.get("/internal/runs", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status == 200
    resp = await guarded.client.get("/internal/runs", headers={"Authorization": "Bearer nope"})
    assert resp.status == 401
    resp = await guarded.client.get("/internal/runs", headers={"Authorization": f"Basic {TOKEN}"})
    assert resp.status == 401


async def test_signed_request_is_accepted(signed: Service) -> None:
    body = json.dumps({"suiteId": "smoke"}).encode()
    headers = {
        "x-api-token": TOKEN,
        "content-type": "application/json",
        **signed_headers(SECRET, body),
    }
    resp = await signed.client.post("/internal/runs/start", data=body, headers=headers)
    assert resp.status == 202, await resp.text()


async def test_missing_signature_is_401_when_a_secret_is_set(signed: Service) -> None:
    resp = await signed.client.post(
        "/internal/runs/start", json={"suiteId": "smoke"}, headers={"x-api-token": TOKEN}
    )
    assert resp.status == 401
    assert "signature" in (await resp.json())["detail"]


async def test_bad_signature_is_401(signed: Service) -> None:
    body = json.dumps({"suiteId": "smoke"}).encode()
    headers = {"x-api-token": TOKEN, **signed_headers(SECRET, body)}
    tampered = json.dumps({"suiteId": "mixed"}).encode()  # signature of another body
    resp = await signed.client.post("/internal/runs/start", data=tampered, headers=headers)
    assert resp.status == 401
    assert (await resp.json())["detail"] == "invalid request signature"
    headers = {"x-api-token": TOKEN, **signed_headers("other-secret", body)}
    resp = await signed.client.post("/internal/runs/start", data=body, headers=headers)
    assert resp.status == 401


async def test_signature_covers_the_raw_body_bytes(signed: Service) -> None:
    # Same JSON, different bytes: the signature of the compact form does not fit the spaced one.
    compact = b'{"suiteId":"smoke"}'
    spaced = b'{"suiteId": "smoke"}'
    headers = {"x-api-token": TOKEN, **signed_headers(SECRET, compact)}
    resp = await signed.client.post("/internal/runs/start", data=spaced, headers=headers)
    assert resp.status == 401


async def test_stale_timestamp_is_401(signed: Service) -> None:
    body = b'{"suiteId":"smoke"}'
    old = str(int(time.time()) - 301)
    headers = {
        "x-api-token": TOKEN,
        "x-timestamp": old,
        "x-signature": signature(SECRET, old, body),
    }
    resp = await signed.client.post("/internal/runs/start", data=body, headers=headers)
    assert resp.status == 401
    assert "stale" in (await resp.json())["detail"]
    future = str(int(time.time()) + 400)
    headers = {
        "x-api-token": TOKEN,
        "x-timestamp": future,
        "x-signature": signature(SECRET, future, body),
    }
    resp = await signed.client.post("/internal/runs/start", data=body, headers=headers)
    assert resp.status == 401


async def test_non_numeric_timestamp_is_401(signed: Service) -> None:
    headers = {
        "x-api-token": TOKEN,
        "x-timestamp": "yesterday",
        "x-signature": signature(SECRET, "yesterday", b""),
    }
    resp = await signed.client.get("/internal/runs", headers=headers)
    assert resp.status == 401


async def test_replayed_request_is_401(signed: Service) -> None:
    body = b'{"suiteId":"smoke"}'
    headers = {
        "x-api-token": TOKEN,
        "content-type": "application/json",
        **signed_headers(SECRET, body),
    }
    first = await signed.client.post("/internal/runs/start", data=body, headers=headers)
    assert first.status == 202
    again = await signed.client.post("/internal/runs/start", data=body, headers=headers)
    assert again.status == 401
    assert "replayed" in (await again.json())["detail"]


async def test_millisecond_timestamps_are_accepted(signed: Service) -> None:
    stamp = str(int(time.time() * 1000))
    headers = {
        "x-api-token": TOKEN,
        "x-timestamp": stamp,
        "x-signature": signature(SECRET, stamp, b""),
    }
    resp = await signed.client.get("/internal/runs", headers=headers)
    assert resp.status == 200


async def test_hmac_is_enforced_without_a_token_too(make_service: MakeService) -> None:
    svc = await make_service(secret=SECRET)
    assert (await svc.client.get("/internal/runs")).status == 401
    resp = await svc.client.get("/internal/runs", headers=signed_headers(SECRET, b""))
    assert resp.status == 200


async def test_without_token_or_secret_requests_are_allowed(service: Service) -> None:
    assert (await service.client.get("/internal/runs")).status == 200


async def test_logs_never_contain_tokens_or_signatures(signed: Service) -> None:
    body = b'{"suiteId":"smoke"}'
    sig_headers = signed_headers(SECRET, body)
    with capture_logs() as logs:
        await signed.client.post(
            "/internal/runs/start",
            data=body,
            headers={"Authorization": f"Bearer {TOKEN}", **sig_headers},
        )
        await signed.client.get("/internal/runs", headers={"x-api-token": "wrong-token-value"})
    text = json.dumps(logs, default=str)
    assert logs, "expected access and auth log lines"
    for secret in (TOKEN, SECRET, sig_headers["x-signature"], "wrong-token-value"):
        assert secret not in text
    assert all("request_id" in entry for entry in logs if entry["event"] == "http.request")


def test_the_replay_guard_drops_each_pair_once_however_many_are_live() -> None:
    """Issue 9 item 13: past 1,024 live pairs every request scanned them all. Now a pair is
    looked at once, when its second of expiry passes, and replays stay refused meanwhile."""
    from lamdis_http._auth import SIGNATURE_WINDOW_SECONDS, _ReplayGuard

    guard = _ReplayGuard(SIGNATURE_WINDOW_SECONDS)
    now = 1_800_000_000.0
    pairs = [(str(int(now) - i % 200), f"sig-{i}") for i in range(5000)]
    assert all(guard.accept(ts, sig, now=now + i / 1000) for i, (ts, sig) in enumerate(pairs))
    assert not any(guard.accept(ts, sig, now=now + 5) for ts, sig in pairs[::7])
    assert guard.examined == 0 and len(guard) == 5000
    later = now + SIGNATURE_WINDOW_SECONDS + 2  # every pair has left the window
    assert guard.accept(str(int(later)), "fresh", now=later)
    assert guard.examined == 5000 and len(guard) == 1
    for n in range(100):
        assert guard.accept(str(int(later)), f"more-{n}", now=later + n / 100)
    assert guard.examined == 5000  # nothing looked at twice
    assert not guard.accept(str(int(later)), "fresh", now=later + 1)


async def test_a_signed_compressed_body_is_refused_not_checked_over_decompressed_bytes(
    signed: Service,
) -> None:
    """Issue 9 item 13: the signature was checked over the body aiohttp had decompressed, so
    a signature over the decompressed JSON passed and one over the bytes sent failed."""
    import gzip

    plain = b'{"suiteId":"smoke"}'
    sent = gzip.compress(plain)
    for signed_over in (plain, sent):
        headers = {
            "x-api-token": TOKEN,
            "content-type": "application/json",
            "content-encoding": "gzip",
            **signed_headers(SECRET, signed_over, millis=True),
        }
        resp = await signed.client.post("/internal/runs/start", data=sent, headers=headers)
        assert resp.status == 415
        assert "raw body bytes" in (await resp.json())["detail"]
    assert await signed.store.list_runs(RunFilter()) == []
