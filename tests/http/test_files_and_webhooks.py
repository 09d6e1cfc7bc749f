"""lamdis-runs' run-file and JSON mode (limited to the config root), and completion webhooks."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from lamdis_http.webhooks import AiohttpNotifier

from tests.fixtures.servers import free_port
from tests.http._helpers import start, wait_status
from tests.http.conftest import SECRET, TOKEN, MakeService, Service

# --- run-file ----------------------------------------------------------------------------------


async def test_run_file_runs_a_test_file_and_answers_with_the_result(service: Service) -> None:
    resp = await service.client.post("/internal/run-file", json={"filePath": "tests/smoke.json"})
    assert resp.status == 200, await resp.text()
    result = await resp.json()
    assert result["status"] == "passed"
    assert result["file"] == "tests/smoke.json"
    assert result["totals"]["passed"] == 2 and result["passRate"] == 1.0
    assert {i["testId"] for i in result["items"]} == {"greets", "warns-about-risk"}
    run = await (await service.client.get(f"/internal/runs/{result['runId']}")).json()
    assert run["status"] == "passed" and len(run["items"]) == 2


async def test_run_file_with_cwd_and_wait_false_answers_queued(service: Service) -> None:
    resp = await service.client.post(
        "/internal/run-file", json={"filePath": "failing.json", "cwd": "tests", "wait": False}
    )
    assert resp.status == 202
    queued = await resp.json()
    assert queued["status"] == "queued"
    run = await wait_status(service.client, queued["runId"])
    assert run["status"] == "failed"


@pytest.mark.parametrize(
    "body",
    [
        {"filePath": "../outside.json"},
        {"filePath": "/etc/passwd"},
        {"filePath": "smoke.json", "cwd": "../.."},
        {"filePath": "tests/../../outside.json"},
    ],
)
async def test_run_file_refuses_paths_outside_the_config_root(
    service: Service, config_dir: Path, body: dict
) -> None:
    (config_dir.parent / "outside.json").write_text('{"tests": []}')
    resp = await service.client.post("/internal/run-file", json=body)
    assert resp.status == 403
    assert resp.content_type == "application/problem+json"


async def test_run_file_refuses_a_symlink_that_leaves_the_root(
    service: Service, config_dir: Path
) -> None:
    outside = config_dir.parent / "secret.json"
    outside.write_text('{"tests": []}')
    (config_dir / "tests" / "link.json").symlink_to(outside)
    resp = await service.client.post("/internal/run-file", json={"filePath": "tests/link.json"})
    assert resp.status == 403


async def test_run_file_of_a_missing_file_is_404(service: Service) -> None:
    resp = await service.client.post("/internal/run-file", json={"filePath": "tests/none.json"})
    assert resp.status == 404
    assert (await resp.json())["field"] == "filePath"


# --- JSON mode ---------------------------------------------------------------------------------


async def test_json_mode_runs_suites_and_reports_each(service: Service) -> None:
    resp = await service.client.post(
        "/internal/run-json-suites",
        json={"mode": "json", "suites": ["smoke", "mixed"], "trigger": "ci"},
    )
    assert resp.status == 200, await resp.text()
    result = await resp.json()
    assert result["mode"] == "json"
    assert result["status"] == "failed"
    assert [s["id"] for s in result["suites"]] == ["smoke", "mixed"]
    assert result["suites"][0]["status"] == "passed" and result["suites"][1]["status"] == "failed"
    assert result["totals"] == {"passed": 4, "failed": 1, "skipped": 0, "errors": 0}
    assert result["passRate"] == 0.8


async def test_json_mode_refuses_paths_outside_the_root_and_unknown_suites(
    service: Service,
) -> None:
    resp = await service.client.post(
        "/internal/run-json-suites", json={"suites": ["../../etc/passwd"]}
    )
    assert resp.status == 403
    resp = await service.client.post(
        "/internal/run-json-suites", json={"suites": ["smoke", "nope"]}
    )
    assert resp.status == 404
    assert (await resp.json())["field"] == "suites[1]"
    resp = await service.client.post("/internal/run-json-suites", json={"suites": []})
    assert resp.status == 400
    resp = await service.client.post(
        "/internal/run-json-suites", json={"mode": "mongo", "suites": ["smoke"]}
    )
    assert resp.status == 400


# --- webhooks ----------------------------------------------------------------------------------


class Receiver:
    """A webhook receiver on a free loopback port: records deliveries, fails on demand, and
    answers slowly on demand (``answer.clear()``: each delivery waits until ``answer.set()``)."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.fail_first = 0
        self.got = asyncio.Event()
        self.answer = asyncio.Event()
        self.answer.set()
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append((dict(request.headers), body))
        await self.answer.wait()
        if len(self.received) <= self.fail_first:
            return web.Response(status=500, text="receiver down")
        self.got.set()
        return web.Response(status=204)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    recv = Receiver()
    app = web.Application()
    app.router.add_post("/hook", recv.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    recv.url = f"http://127.0.0.1:{port}/hook"
    yield recv
    recv.answer.set()  # a delivery a test left waiting ends now
    await runner.cleanup()


@pytest.fixture
async def notifier() -> AsyncIterator[AiohttpNotifier]:
    made = AiohttpNotifier(secret=SECRET, backoff_s=0.05)
    yield made
    await made.aclose()


async def _webhook_recorded(service: Service, run_id: str) -> dict[str, Any]:
    for _ in range(200):
        run = await (await service.client.get(f"/internal/runs/{run_id}", headers=_auth())).json()
        if run.get("webhook"):
            return run
        await asyncio.sleep(0.02)
    raise AssertionError("webhook outcome was never recorded")


def _auth() -> dict[str, str]:
    from lamdis_http._auth import signed_headers

    return {"x-api-token": TOKEN, **signed_headers(SECRET, b"")}


async def test_webhook_posts_the_signed_summary(
    make_service: MakeService, receiver: Receiver, notifier: AiohttpNotifier
) -> None:
    import json
    import time

    from lamdis_http._auth import signed_headers

    svc = await make_service(token=TOKEN, secret=SECRET, notifier=notifier)
    body = json.dumps(
        {"suiteId": "mixed", "webhookUrl": receiver.url, "gitContext": {"sha": "abc"}}
    ).encode()
    resp = await svc.client.post(
        "/internal/runs/start",
        data=body,
        headers={
            "x-api-token": TOKEN,
            "content-type": "application/json",
            **signed_headers(SECRET, body),
        },
    )
    run_id = (await resp.json())["runId"]
    await asyncio.wait_for(receiver.got.wait(), 20)
    headers, raw = receiver.received[-1]
    expected = hmac.new(
        SECRET.encode(), headers["x-timestamp"].encode() + b"." + raw, hashlib.sha256
    ).hexdigest()
    assert headers["x-signature"] == expected
    assert abs(int(headers["x-timestamp"]) - time.time()) < 60
    payload = json.loads(raw)
    assert payload["runId"] == run_id
    assert payload["mode"] == "local"
    assert payload["status"] == "failed"
    assert payload["totals"] == {"passed": 2, "failed": 1, "skipped": 0, "errors": 0}
    assert payload["passRate"] == round(2 / 3, 4)
    assert payload["gitContext"] == {"sha": "abc"}
    assert payload["suites"][0]["id"] == "mixed"
    run = await _webhook_recorded(svc, run_id)
    assert (
        run["webhook"]["ok"] is True
        and run["webhook"]["attempts"] == 1
        and run["webhook"]["status"] == 204
    )


async def test_webhook_is_retried_with_backoff(
    make_service: MakeService, receiver: Receiver, notifier: AiohttpNotifier
) -> None:
    receiver.fail_first = 2
    svc = await make_service(notifier=notifier)
    run_id = await start(svc.client, {"suiteId": "smoke", "webhookUrl": receiver.url})
    run = await _webhook_recorded(svc, run_id)
    assert run["webhook"]["ok"] is True and run["webhook"]["attempts"] == 3
    assert len(receiver.received) == 3


async def test_a_failing_webhook_never_fails_the_run(
    make_service: MakeService, receiver: Receiver, notifier: AiohttpNotifier
) -> None:
    receiver.fail_first = 10
    svc = await make_service(notifier=notifier)
    run_id = await start(svc.client, {"suiteId": "smoke", "webhookUrl": receiver.url})
    run = await _webhook_recorded(svc, run_id)
    assert run["status"] == "passed"
    assert run["webhook"]["ok"] is False and run["webhook"]["attempts"] == 3
    assert run["webhook"]["error"] == "HTTP 500"


async def test_an_unreachable_webhook_is_recorded_as_failed(
    make_service: MakeService, notifier: AiohttpNotifier
) -> None:
    svc = await make_service(notifier=notifier)
    url = f"http://127.0.0.1:{free_port()}/nobody"
    run_id = await start(svc.client, {"suiteId": "smoke", "webhookUrl": url})
    run = await _webhook_recorded(svc, run_id)
    assert run["status"] == "passed"
    assert run["webhook"]["ok"] is False and run["webhook"]["attempts"] == 3
    assert "status" not in run["webhook"]  # no HTTP answer at all
    assert "ClientConnectorError" in run["webhook"]["error"]


async def test_webhook_logs_name_the_host_not_the_path_or_query(
    receiver: Receiver, notifier: AiohttpNotifier
) -> None:
    """Chat webhooks carry their credential in the path (``/services/T0/B0/<secret>``)."""
    from structlog.testing import capture_logs

    receiver.fail_first = 1
    delivered = receiver.url
    with capture_logs() as logs:
        await notifier.deliver(f"{delivered}?token=q-secret-1", {"runId": "r"})  # 500, then 204
        await notifier.deliver(f"{delivered}/B0/path-secret-2", {"runId": "r"})  # 404 x 3
    events = [entry["event"] for entry in logs]
    assert "webhook.delivered" in events and "webhook.attempt_failed" in events
    shown = repr(logs)
    assert "q-secret-1" not in shown and "path-secret-2" not in shown and "/hook" not in shown
    assert all(entry["url"] == delivered.removesuffix("/hook") for entry in logs if "url" in entry)


async def test_json_mode_webhook_lists_each_suite(
    make_service: MakeService, receiver: Receiver, notifier: AiohttpNotifier
) -> None:
    import json

    svc = await make_service(notifier=notifier)
    resp = await svc.client.post(
        "/internal/run-json-suites",
        json={"suites": ["smoke", "partial"], "webhookUrl": receiver.url},
    )
    assert resp.status == 200
    await asyncio.wait_for(receiver.got.wait(), 20)
    payload = json.loads(receiver.received[-1][1])
    assert payload["mode"] == "json"
    assert payload["status"] == "partial"
    assert [(s["id"], s["status"]) for s in payload["suites"]] == [
        ("smoke", "passed"),
        ("partial", "partial"),
    ]


async def test_a_run_stopped_while_queued_still_sends_its_webhook(
    make_service: MakeService, receiver: Receiver, notifier: AiohttpNotifier
) -> None:
    import json

    svc = await make_service(notifier=notifier, start_worker=True, max_runs=1)
    # Fill the only worker slot, so the second run stays queued until we stop it.
    busy = await start(svc.client, {"suiteId": "slow"})
    await wait_status(svc.client, busy, {"running"})
    queued = await start(svc.client, {"suiteId": "smoke", "webhookUrl": receiver.url})
    resp = await svc.client.post(f"/internal/runs/{queued}/stop")
    assert (await resp.json())["status"] == "stopped"
    await asyncio.wait_for(receiver.got.wait(), 10)
    payload = json.loads(receiver.received[-1][1])
    assert payload["runId"] == queued and payload["status"] == "stopped"
    run = await _webhook_recorded(svc, queued)
    assert run["webhook"]["ok"] is True
    await svc.client.post(f"/internal/runs/{busy}/stop")


async def test_webhook_credentials_are_redacted_in_the_runs_api(
    make_service: MakeService, receiver: Receiver, notifier: AiohttpNotifier
) -> None:
    """The hook gets its full URL; readers of the run see neither password nor token."""
    svc = await make_service(notifier=notifier)
    url = receiver.url.replace("http://", "http://hookuser:hook-pass-123@")
    url += "?token=tok-secret-456&team=qa&x=AbCdEf0123456789GhIjKlMn"
    run_id = await start(svc.client, {"suiteId": "smoke", "webhookUrl": url})
    run = await _webhook_recorded(svc, run_id)
    assert run["webhook"]["ok"] is True
    assert receiver.received[-1][0]["Authorization"].startswith("Basic ")  # sent as given
    listed = await (await svc.client.get("/internal/runs")).text()
    shown = json.dumps(run) + listed
    for secret in ("hook-pass-123", "tok-secret-456", "AbCdEf0123456789GhIjKlMn"):
        assert secret not in shown
    assert (
        run["webhookUrl"]
        == receiver.url.replace("http://", "http://hookuser:***@") + "?token=***&team=qa&x=***"
    )
    assert run["webhook"]["url"] == run["webhookUrl"]


async def test_repeated_stops_of_a_queued_run_send_its_webhook_once(
    make_service: MakeService, receiver: Receiver, notifier: AiohttpNotifier
) -> None:
    """Issue 9 item 8: three stops (two here, one through another instance sharing the store)
    used to send three webhooks; only the stop that ended the run sends it."""
    svc = await make_service(notifier=notifier, start_worker=True, max_runs=1)
    other = await make_service(store=svc.store, notifier=notifier, start_worker=False)
    busy = await start(svc.client, {"suiteId": "slow"})
    await wait_status(svc.client, busy, {"running"})
    queued = await start(svc.client, {"suiteId": "smoke", "webhookUrl": receiver.url})
    answers = [
        await client.post(f"/internal/runs/{queued}/stop")
        for client in (svc.client, svc.client, other.client)
    ]
    assert [(await a.json())["status"] for a in answers] == ["stopped"] * 3
    await asyncio.wait_for(receiver.got.wait(), 10)
    run = await _webhook_recorded(svc, queued)
    assert run["webhook"]["ok"] is True
    await asyncio.sleep(0.5)  # a second delivery would have arrived by now
    assert len(receiver.received) == 1
    await svc.client.post(f"/internal/runs/{busy}/stop")
