"""The live run page: server-sent events from one shared watcher per run, the Stop button with
its form token, and the run header's commit link and webhook outcome.

The assistant is the demo one on loopback; its ``#delay:N`` marker makes turns slow, so a run
is observably running while the page follows it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from lamdis_core.domain.results import (
    JudgeSummary,
    Progress,
    Run,
    RunStatus,
    Totals,
    Usage,
    WebhookDelivery,
)
from lamdis_core.ports.store import Claim
from lamdis_core.testing.memory import InMemoryRunStore
from lamdis_http.app import WORKER_KEY
from lamdis_http.ui import commit_link, environment, run_view
from lamdis_http.ui.web import FEEDS_KEY

from tests.contracts.store import make_item
from tests.http._configs import _chat_test, _write, write_config_tree
from tests.http._helpers import start, wait_status
from tests.http._html import parse
from tests.http.conftest import TOKEN, MakeService, Service
from tests.http.test_files_and_webhooks import Receiver, receiver  # noqa: F401  # the fixture


def write_live_suite(root: Path) -> None:
    """Suite ``live``: three quick tests that finish one after another (0.3 s apart), and one
    of 40 slow turns that keeps the run going until it is stopped."""
    quick = [_chat_test(f"step-{k}", f"hello #delay:{300 * (k + 1)}", ["hello"]) for k in range(3)]
    long = _chat_test("long", "hello #delay:400", ["hello"], turns=40)
    _write(
        root,
        "tests/live.json",
        {"id": "live-tests", "assistantRef": "assistants/demo", "tests": [*quick, long]},
    )
    _write(
        root,
        "suites/live.json",
        {
            "id": "live",
            "assistants": {"include": ["assistants/demo"]},
            "tests": {"includeFiles": ["tests/live.json"]},
        },
    )


@pytest.fixture
def config_dir(tmp_path: Path, demo_url: str) -> Path:
    root = write_config_tree(tmp_path / "configs", demo_url)
    write_live_suite(root)
    return root


class Events:
    """A server-sent event stream read as it arrives."""

    def __init__(self, response: ClientResponse) -> None:
        self.response = response

    async def __aiter__(self) -> AsyncIterator[tuple[str, dict[str, Any], str]]:
        event, data, event_id = "message", "", ""
        async for raw in self.response.content:
            line = raw.decode("utf-8").rstrip("\n")
            if not line:
                if data:
                    yield event, json.loads(data), event_id
                event, data = "message", ""
                continue
            field, _, value = line.partition(": ")
            if field == "event":
                event = value
            elif field == "data":
                data += value
            elif field == "id":
                event_id = value


async def _events(client: Any, run_id: str, **headers: str) -> ClientResponse:
    response = await client.get(f"/ui/runs/{run_id}/events?items=0", headers=headers)
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert response.headers["Cache-Control"] == "no-store"
    return response


def _form_token(html: str) -> str:
    form = parse(html).by_id("stop-form")
    return next(i for i in form.iter("input") if i.attrs.get("name") == "csrf").attrs["value"] or ""


async def _wait_until(service: Service, run_id: str, ready: Callable[[Run], bool]) -> None:
    async with asyncio.timeout(20):
        while (run := await service.store.get_run(run_id, include_items=False)) is not None:
            if ready(run):
                return
            await asyncio.sleep(0.02)
    raise AssertionError(f"run {run_id} is gone")


async def _wait_running(service: Service, run_id: str) -> None:
    async with asyncio.timeout(20):
        while (run := await service.store.get_run(run_id, include_items=False)) is not None:
            if run.status is RunStatus.RUNNING:
                return
            await asyncio.sleep(0.02)


async def test_a_running_run_streams_its_items_and_the_stop_button_stops_it(
    make_service: MakeService,
) -> None:
    service = await make_service()
    client = service.client
    run_id = await start(client, {"suiteId": "live", "gitContext": {"sha": "abc1234"}})
    await _wait_running(service, run_id)

    page = await client.get(f"/ui/runs/{run_id}")
    html = await page.text()
    tree = parse(html)
    assert tree.by_id("live").attrs["data-events"] == f"/ui/runs/{run_id}/events"
    assert [s.attrs["src"] for s in tree.iter("script")] == ["/ui/static/live.js"]
    script = await client.get("/ui/static/live.js")
    assert script.status == 200 and script.content_type == "text/javascript"
    assert "EventSource" in await script.text()

    response = await _events(client, run_id)
    seen: list[tuple[str, int, str]] = []
    names: list[str] = []
    stopped = False
    async with asyncio.timeout(30):
        async for event, data, event_id in Events(response):
            names.extend(next(parse(item["row"]).iter("a")).text() for item in data["items"])
            seen.append((event, len(data["items"]), data["status"]))
            assert event_id == f"1:{len(names)}"  # the first attempt, items sent so far
            if len(names) == 3 and not stopped:
                # The three quick tests are in; the long one is still going. Stop it.
                refused = await client.post(
                    f"/ui/runs/{run_id}/stop", data={"csrf": "forged"}, allow_redirects=False
                )
                assert refused.status == 403
                stop = await client.post(
                    f"/ui/runs/{run_id}/stop",
                    data={"csrf": _form_token(html)},
                    allow_redirects=False,
                )
                assert stop.status == 303
                assert stop.headers["Location"] == f"/ui/runs/{run_id}"
                stopped = True
            if event == "final":
                break
    assert names[:3] == ["step-0", "step-1", "step-2"]
    assert seen[0][0] == "run" and seen[-1][0] == "final"
    # items arrived over several events, not all at the end
    assert len([s for s in seen if s[1]]) >= 2
    assert seen[-1][2] == "stopped"
    final = await service.store.get_run(run_id, include_items=False)
    assert final is not None and final.status is RunStatus.STOPPED
    # The finished run's page no longer offers Stop or a live stream.
    after = parse(await (await client.get(f"/ui/runs/{run_id}")).text())
    assert after.by_id("run-status").text() == "stopped"  # said once
    assert not [f for f in after.iter("form") if f.attrs.get("id") == "stop-form"]
    assert not list(after.iter("script"))


class CountingStore(InMemoryRunStore):
    """The in-memory store, counting reads by the task that made them."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: dict[int, int] = {}

    async def get_run(self, run_id: str, *, include_items: bool = True) -> Run | None:
        task = asyncio.current_task()
        if task is not None and task.get_name().startswith("lamdis-ui-live-"):
            self.reads[id(task)] = self.reads.get(id(task), 0) + 1
        return await super().get_run(run_id, include_items=include_items)


async def test_viewers_of_one_run_share_one_watcher(make_service: MakeService) -> None:
    store = CountingStore()
    service = await make_service(store=store)
    client = service.client
    run_id = await start(client, {"suiteId": "live"})
    await _wait_running(service, run_id)
    feeds = service.app[FEEDS_KEY]

    streams = [await _events(client, run_id) for _ in range(5)]
    firsts = []
    async with asyncio.timeout(10):
        for response in streams:
            async for event, data, _ in Events(response):
                firsts.append((event, data["status"]))
                break
    assert firsts == [("run", "running")] * 5
    assert feeds.watched == 1
    await asyncio.sleep(1.5)
    assert len(store.reads) == 1  # one watcher task read the store for all five viewers

    stop = await client.post(f"/internal/runs/{run_id}/stop")
    assert stop.status == 200
    for response in streams:
        async with asyncio.timeout(20):
            events = [event async for event, _, _ in Events(response)]
        assert events[-1] == "final"
    await asyncio.sleep(0)
    assert feeds.watched == 0


async def test_a_finished_run_gets_one_final_event_and_unknown_runs_a_404(
    make_service: MakeService,
) -> None:
    service = await make_service()
    client = service.client
    run_id = await start(client, {"suiteId": "smoke"})
    await wait_status(client, run_id)
    tree = parse(await (await client.get(f"/ui/runs/{run_id}")).text())
    # a final run's page has no stream to open and nothing to stop
    assert not [d for d in tree.iter("div") if d.attrs.get("id") == "live"]
    response = await _events(client, run_id, **{"Last-Event-ID": "1"})
    async with asyncio.timeout(10):
        events = [(event, data) async for event, data, _ in Events(response)]
    assert [event for event, _ in events] == ["final"]
    # Last-Event-ID: the browser had one item already; it gets the other one only
    assert len(events[0][1]["items"]) == 1
    assert "passed" in parse(events[0][1]["header"]).by_id("run-status").text()
    missing = await client.get("/ui/runs/no-such-run/events")
    assert missing.status == 404
    stop_missing = await client.post("/ui/runs/no-such-run/stop", data={"csrf": "x"})
    assert stop_missing.status in (403, 404)


async def test_with_a_token_streams_and_stops_need_the_session(make_service: MakeService) -> None:
    service = await make_service(token=TOKEN)
    client = service.client
    run_id = await start(client, {"suiteId": "live"}, headers={"x-api-token": TOKEN})
    await _wait_running(service, run_id)
    anonymous = await client.get(f"/ui/runs/{run_id}/events", allow_redirects=False)
    assert anonymous.status == 303 and anonymous.headers["Location"] == "/ui/login"
    refused = await client.post(f"/ui/runs/{run_id}/stop", data={}, allow_redirects=False)
    assert refused.status == 303  # to the login, nothing stopped
    assert (await service.store.get_run(run_id, include_items=False)).stop_requested is False  # type: ignore[union-attr]

    await client.post("/ui/login", data={"token": TOKEN}, allow_redirects=False)
    html = await (await client.get(f"/ui/runs/{run_id}")).text()
    token = _form_token(html)
    logout_token = next(
        i.attrs["value"] for i in parse(html).iter("input") if i.attrs.get("name") == "csrf"
    )
    assert token and token == logout_token  # one form token per session
    stop = await client.post(f"/ui/runs/{run_id}/stop", data={"csrf": token}, allow_redirects=False)
    assert stop.status == 303
    await wait_status(client, run_id, headers={"x-api-token": TOKEN})
    final = await service.store.get_run(run_id, include_items=False)
    assert final is not None and final.status is RunStatus.STOPPED


def test_commit_links_only_for_known_web_addresses_and_hex_shas() -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    github = {"provider": "github", "repo": "acme/bot", "sha": sha}
    assert commit_link(github) == f"https://github.com/acme/bot/commit/{sha}"
    gitlab = {
        "provider": "gitlab",
        "repo": "group/bot",
        "sha": sha,
        "runUrl": "https://git.example.test/group/bot/-/pipelines/77",
    }
    assert commit_link(gitlab) == f"https://git.example.test/group/bot/-/commit/{sha}"
    ghe = {"sha": sha, "runUrl": "https://ghe.example.test/acme/bot/actions/runs/5"}
    assert commit_link(ghe) == f"https://ghe.example.test/acme/bot/commit/{sha}"
    given = {"commit": sha[:8], "repoUrl": "https://code.example.test/bot.git"}
    assert commit_link(given) == f"https://code.example.test/bot/commit/{sha[:8]}"
    # nothing known about where the repository lives, or nothing safe to link
    assert commit_link({"repo": "acme/bot", "sha": sha}) is None
    assert commit_link({"repoUrl": "javascript:alert(1)//", "sha": sha}) is None
    assert commit_link({"provider": "github", "repo": "acme/bot", "sha": "<b>"}) is None
    assert commit_link({"provider": "github", "repo": "a/b/../../x", "sha": sha}) is None


async def test_run_header_shows_usage_commit_link_and_webhook_outcome(
    make_service: MakeService,
) -> None:
    store = InMemoryRunStore()
    service = await make_service(store=store, start_worker=False, import_tree=False)
    sha = "feedfacecafe0123"
    run = await store.create_run(
        Run(
            suite_id="s",
            status=RunStatus.FAILED,
            git_context={"provider": "github", "repo": "acme/bot", "sha": sha, "branch": "main"},
            webhook_url="https://hooks.example.test/in?key=SECRET",
        )
    )
    assert run.id is not None
    await store.record_webhook(
        run.id,
        WebhookDelivery(
            url="https://hooks.example.test/in?key=SECRET",
            ok=False,
            attempts=3,
            status=502,
            error="bad gateway",
            delivered_at=datetime(2026, 1, 1, tzinfo=UTC),
        ),
    )
    html = await (await service.client.get(f"/ui/runs/{run.id}")).text()
    assert "SECRET" not in html
    tree = parse(html)
    link = tree.by_id("run-commit")
    assert link.attrs["href"] == f"https://github.com/acme/bot/commit/{sha}"
    assert link.text() == sha
    webhook = tree.by_id("run-webhook").text()
    assert "hooks.example.test" in webhook and "not delivered" in webhook
    assert "HTTP 502" in webhook and "3 attempts" in webhook and "bad gateway" in webhook
    assert "tokens" in tree.by_id("run-usage").text()


def test_the_header_says_stopped_once() -> None:
    header = environment().get_template("_run_header.html")

    def status(summary: dict[str, Any]) -> str:
        return parse(header.render(run=run_view(summary, []))).by_id("run-status").text()

    assert status({"status": "stopped", "stopped": True}) == "stopped"
    # a local run cut short reports what its items made it, and that it was stopped
    assert status({"status": "partial", "stopped": True}) == "partial (stopped)"


def test_the_report_shows_progress_only_while_a_run_goes() -> None:
    view = run_view({"status": "running", "progress": {"done": 2, "total": 5}}, [])
    assert view["progress"] == {"done": 2, "total": 5, "current": None}
    assert run_view({"status": "passed"}, [])["progress"] is None


async def test_the_worker_tells_listeners_what_changed_and_a_failing_one_harms_nothing(
    make_service: MakeService,
) -> None:
    service = await make_service()
    worker = service.app[WORKER_KEY]
    heard: list[str] = []

    def broken(run_id: str) -> None:
        raise RuntimeError("a viewer's trouble")

    worker.on_change(broken)
    worker.on_change(heard.append)
    run_id = await start(service.client, {"suiteId": "smoke"})
    run = await wait_status(service.client, run_id)
    assert run["status"] == "passed"
    # claimed, each of the two items, and finished (progress flushes may add more)
    assert heard.count(run_id) >= 4
    assert set(heard) == {run_id}


async def test_a_run_executed_elsewhere_is_followed_by_polling_the_store(
    make_service: MakeService,
) -> None:
    """No worker here (another instance executes the run): the watcher's store poll alone
    brings the page each item and the end."""
    store = InMemoryRunStore()
    service = await make_service(store=store, start_worker=False, import_tree=False)
    service.app[FEEDS_KEY].poll_seconds = 0.1
    run = await store.create_run(Run(suite_id="s"))
    assert run.id is not None
    claimed = await store.claim_next("elsewhere", now=datetime.now(UTC), lease_seconds=60)
    assert claimed is not None
    claim = Claim.of(claimed)
    response = await _events(service.client, run.id)
    received: list[tuple[str, int]] = []
    async with asyncio.timeout(20):
        async for event, data, _ in Events(response):
            received.append((event, len(data["items"])))
            if len(received) == 1:
                # as a worker does: the item, then (within a second) the progress counting it
                await store.append_item(run.id, make_item(1), claim=claim)
                await store.update_progress(run.id, Progress(done=1, total=2), claim=claim)
            elif len(received) == 2:
                await store.finish_run(
                    run.id,
                    status=RunStatus.FAILED,
                    totals=Totals(failed=1),
                    judge=JudgeSummary(),
                    usage=Usage(),
                    finished_at=datetime.now(UTC),
                    claim=claim,
                )
            if event == "final":
                break
    assert received == [("run", 0), ("run", 1), ("final", 0)]


async def _stream_until_final(response: ClientResponse) -> list[tuple[str, dict[str, Any], str]]:
    events: list[tuple[str, dict[str, Any], str]] = []
    async with asyncio.timeout(30):
        async for event in Events(response):
            events.append(event)
            if event[0] == "final":
                break
    return events


def _webhook_text(data: dict[str, Any]) -> str:
    return parse(data["header"]).by_id("run-webhook").text()


async def test_the_webhook_outcome_arrives_on_the_stream_after_the_run_ends(
    make_service: MakeService,
    receiver: Receiver,  # noqa: F811
) -> None:
    """The worker records the outcome after the run is final; the stream stays open for it."""
    service = await make_service()  # the service's own notifier, to a real receiver
    receiver.answer.clear()  # the receiver answers only when the test says so
    run_id = await start(service.client, {"suiteId": "smoke", "webhookUrl": receiver.url})
    response = await _events(service.client, run_id)
    events: list[tuple[str, dict[str, Any], str]] = []
    try:
        async with asyncio.timeout(30):
            async for event, data, event_id in Events(response):
                events.append((event, data, event_id))
                if event == "run" and data["over"]:
                    # The run is final, its webhook is on its way: the stream is still open.
                    receiver.answer.set()
                if event == "final":
                    break
    finally:
        receiver.answer.set()
    waiting = [data for event, data, _ in events if event == "run" and data["over"]]
    assert waiting, [event for event, _, _ in events]
    assert waiting[0]["status"] == "passed"
    text = _webhook_text(waiting[0])
    assert "127.0.0.1" in text and "sending" in text and "/hook" not in text
    event, data, _ = events[-1]
    assert event == "final" and data["status"] == "passed"
    text = _webhook_text(data)
    assert "delivered" in text and "not delivered" not in text
    assert "HTTP 204" in text and "1 attempt" in text
    stored = await service.store.get_run(run_id, include_items=False)
    assert stored is not None and stored.webhook is not None and stored.webhook.ok


async def test_the_stream_waits_for_a_webhook_outcome_only_so_long(
    make_service: MakeService,
    receiver: Receiver,  # noqa: F811
) -> None:
    service = await make_service()
    service.app[FEEDS_KEY].webhook_wait_seconds = 3.0
    receiver.answer.clear()  # the receiver does not answer while the stream waits
    try:
        run_id = await start(service.client, {"suiteId": "smoke", "webhookUrl": receiver.url})
        events = await _stream_until_final(await _events(service.client, run_id))
        # first the run's end while its webhook is on its way, then the stream gives up
        sending = [data for event, data, _ in events if event == "run" and data["over"]]
        assert sending and "sending" in _webhook_text(sending[0])
        event, data, _ = events[-1]
        assert event == "final" and data["status"] == "passed"
        assert "no outcome recorded yet" in _webhook_text(data)
        stored = await service.store.get_run(run_id, include_items=False)
        assert stored is not None and stored.webhook is None
    finally:
        receiver.answer.set()


async def test_a_page_opened_after_the_end_stays_live_while_the_webhook_is_on_its_way(
    make_service: MakeService,
    receiver: Receiver,  # noqa: F811
) -> None:
    service = await make_service()
    receiver.answer.clear()  # the webhook's receiver holds its answer
    try:
        run_id = await start(service.client, {"suiteId": "smoke", "webhookUrl": receiver.url})
        await _wait_until(service, run_id, lambda run: run.status.is_final)
        page = parse(await (await service.client.get(f"/ui/runs/{run_id}")).text())
        live = page.by_id("live")
        assert live is not None, "a finished run awaiting its webhook outcome opens live"
        assert "hidden" in page.by_id("stop-form").attrs, "a finished run cannot be stopped"
    finally:
        receiver.answer.set()
    await _wait_until(service, run_id, lambda run: run.webhook is not None)
    page = parse(await (await service.client.get(f"/ui/runs/{run_id}")).text())
    assert not [d for d in page.iter("div") if d.attrs.get("id") == "live"]
    assert "delivered" in page.by_id("run-webhook").text()


async def test_a_run_without_a_webhook_ends_its_stream_with_the_run(
    make_service: MakeService,
) -> None:
    service = await make_service()
    run_id = await start(service.client, {"suiteId": "smoke"})
    events = await _stream_until_final(await _events(service.client, run_id))
    # nothing to wait for once the run is final: its final event is the first that says so
    assert [event for event, data, _ in events if data["over"]] == ["final"]
    header = parse(events[-1][1]["header"])
    assert not [p for p in header.iter("p") if p.attrs.get("id") == "run-webhook"]


async def test_a_run_that_recovery_requeues_starts_over_on_the_stream(
    make_service: MakeService,
) -> None:
    """Its instance died: recovery clears its items and queues it again; the viewer's items
    are replaced, live and on reconnecting, by what the store now holds."""
    store = InMemoryRunStore()
    service = await make_service(store=store, start_worker=False, import_tree=False)
    service.app[FEEDS_KEY].poll_seconds = 0.1
    run = await store.create_run(Run(suite_id="s"))
    assert run.id is not None
    now = datetime.now(UTC)
    claim = Claim.of(await store.claim_next("crashed", now=now, lease_seconds=60) or run)
    await store.append_item(run.id, make_item(1), claim=claim)
    await store.append_item(run.id, make_item(2), claim=claim)
    await store.update_progress(run.id, Progress(done=2, total=3), claim=claim)
    response = await _events(service.client, run.id)
    received: list[tuple[str, int, bool, str, str]] = []
    async with asyncio.timeout(20):
        async for event, data, event_id in Events(response):
            received.append((event, len(data["items"]), data["reset"], data["status"], event_id))
            if len(received) == 1:
                assert await store.recover_expired(now=now + timedelta(seconds=120))
            elif len(received) == 2:
                again = await store.claim_next("another", now=now, lease_seconds=60)
                assert again is not None and again.attempts == 2
                claim = Claim.of(again)
            elif len(received) == 3:
                await store.append_item(run.id, make_item(3), claim=claim)
                await store.update_progress(run.id, Progress(done=1, total=3), claim=claim)
            else:
                break
    assert received == [
        ("run", 2, False, "running", "1:2"),
        ("run", 0, True, "queued", "1:0"),  # re-queued: the two items are gone
        ("run", 0, True, "running", "2:0"),  # claimed again: a new attempt
        ("run", 1, False, "running", "2:1"),
    ]
    # A browser that reconnects with what it had before the recovery starts over too.
    stale = await _events(service.client, run.id, **{"Last-Event-ID": "1:2"})
    async with asyncio.timeout(10):
        async for event, data, event_id in Events(stale):
            assert (event, len(data["items"]), data["reset"], event_id) == ("run", 1, True, "2:1")
            break
    # One whose items are of this attempt gets only what it lacks.
    current = await _events(service.client, run.id, **{"Last-Event-ID": "2:1"})
    async with asyncio.timeout(10):
        async for event, data, event_id in Events(current):
            assert (event, len(data["items"]), data["reset"], event_id) == ("run", 0, False, "2:1")
            break
    # The page tells the script which attempt its items are of.
    tree = parse(await (await service.client.get(f"/ui/runs/{run.id}")).text())
    assert tree.by_id("live").attrs["data-attempt"] == "2"


async def test_the_worker_tells_listeners_about_recovered_runs(
    make_service: MakeService,
) -> None:
    store = InMemoryRunStore()
    service = await make_service(store=store, start_worker=False, import_tree=False)
    worker = service.app[WORKER_KEY]
    heard: list[str] = []
    worker.on_change(heard.append)
    run = await store.create_run(Run(suite_id="s"))
    assert run.id is not None
    await store.claim_next("crashed", now=datetime.now(UTC) - timedelta(minutes=5), lease_seconds=1)
    changed = await worker.recover()
    assert [r.id for r in changed] == [run.id] and changed[0].status is RunStatus.QUEUED
    assert heard == [run.id]
