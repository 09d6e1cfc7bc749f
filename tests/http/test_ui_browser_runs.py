"""The runs list and a live run page in a real browser (Debian's Chromium, headless, through
Playwright; see test_ui_browser.py): filter and page the list; sign in, watch a running run
fill in without a reload, stop it with the Stop button; see a webhook's outcome arrive after
the run ended, and a run that recovery re-queued start over. Screenshots go to each test's
folder.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from lamdis_core.domain.results import Progress, Run, RunStatus, Trigger
from lamdis_core.ports.store import Claim
from lamdis_core.testing.memory import InMemoryRunStore
from lamdis_http.ui.web import FEEDS_KEY

from tests.contracts.store import make_item
from tests.http._configs import _chat_test, _write, write_config_tree
from tests.http._helpers import start
from tests.http.conftest import TOKEN, MakeService
from tests.http.test_files_and_webhooks import Receiver, receiver  # noqa: F401  # the fixture
from tests.http.test_ui_browser import HOSTILE, browser, new_page  # noqa: F401  # the fixture
from tests.http.test_ui_live import write_live_suite

pytestmark = pytest.mark.e2e

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def config_dir(tmp_path: Path, demo_url: str) -> Path:
    root = write_config_tree(tmp_path / "configs", demo_url)
    write_live_suite(root)
    # The live suite plus a reply that is markup: inserted live, it must stay text.
    _write(
        root,
        "tests/hostile.json",
        {
            "id": "hostile-tests",
            "assistantRef": "assistants/demo",
            "tests": [_chat_test("hostile", f"#echo {HOSTILE} #delay:200", ["never said"])],
        },
    )
    _write(
        root,
        "suites/live-hostile.json",
        {
            "id": "live-hostile",
            "assistants": {"include": ["assistants/demo"]},
            "tests": {"includeFiles": ["tests/live.json", "tests/hostile.json"]},
        },
    )
    return root


async def test_filter_and_page_the_runs_list(
    make_service: MakeService,
    browser: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    store = InMemoryRunStore()
    service = await make_service(store=store, start_worker=False, import_tree=False)
    for n in range(60):
        await store.create_run(
            Run(
                suite_id="checkout" if n % 2 else "search",
                status=RunStatus.FAILED if n % 4 == 1 else RunStatus.PASSED,
                trigger=Trigger.SCHEDULE if n % 10 == 0 else Trigger.CI,
                created_at=T0 + timedelta(minutes=n),
                git_context={"sha": f"{n:02d}" + "a" * 38, "branch": "main"},
            )
        )
    page, dialogs = await new_page(browser)
    await page.goto(str(service.client.make_url("/ui/")))
    rows = page.locator("#runs tbody tr")
    assert await rows.count() == 25
    await page.fill("input[name=suite]", "checkout")
    await page.select_option("select[name=status]", "failed")
    async with page.expect_navigation():
        await page.click("#run-filters button[type=submit]")
    assert "suite=checkout" in page.url and "status=failed" in page.url
    assert await rows.count() == 15
    texts = await rows.all_inner_texts()
    assert all("checkout" in t and "failed" in t for t in texts)
    assert "57aaaaaaaaaa" in texts[0]  # newest first: n = 57 is the last failed checkout run
    await page.screenshot(path=str(tmp_path / "runs-filtered.png"), full_page=True)

    # Paging keeps the filter: the 30 checkout runs over two pages, none twice.
    await page.goto(str(service.client.make_url("/ui/?suite=checkout")))
    first = await rows.all_inner_texts()
    assert await page.locator(".pager a", has_text="Newer").count() == 0
    async with page.expect_navigation():
        await page.click(".pager a:has-text('Older')")
    assert "suite=checkout" in page.url
    second = await rows.all_inner_texts()
    assert (len(first), len(second)) == (25, 5)
    assert not set(first) & set(second)
    assert all("checkout" in t for t in first + second)
    async with page.expect_navigation():
        await page.click(".pager a:has-text('Newer')")
    assert await rows.all_inner_texts() == first
    await page.screenshot(path=str(tmp_path / "runs-paged.png"), full_page=True)
    assert dialogs == []
    assert (tmp_path / "runs-filtered.png").stat().st_size > 0


async def test_watch_a_running_run_live_and_stop_it(
    make_service: MakeService,
    browser: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    service = await make_service(token=TOKEN)
    client = service.client
    run_id = await start(
        client,
        {"suiteId": "live-hostile", "gitContext": {"sha": "abcdef1234567"}},
        headers={"x-api-token": TOKEN},
    )
    page, dialogs = await new_page(browser)
    await page.goto(str(client.make_url(f"/ui/runs/{run_id}")))
    assert page.url.endswith("/ui/login")
    await page.fill("input[name=token]", TOKEN)
    async with page.expect_navigation():
        await page.click("button[type=submit]")
    await page.goto(str(client.make_url(f"/ui/runs/{run_id}")))
    await page.wait_for_load_state("load")
    # Marks this document: a reload would lose it.
    await page.evaluate("window.lamdisTestMarker = 'same document'")
    status = page.locator("#run-status")
    rows = page.locator("#item-rows tr:not(.empty)")
    # The quick tests and the hostile one finish while the long one runs: rows come in live.
    await rows.nth(3).wait_for(timeout=30_000)
    assert (await status.inner_text()).startswith("running")
    assert await page.locator("#live-state").inner_text() == "live"
    assert await page.evaluate("window.lamdisTestMarker") == "same document"
    # The hostile reply arrived as HTML from the stream and is text in the page.
    echoed = page.locator(".turn-assistant .content", has_text="onerror=alert(1)")
    assert await echoed.count() == 1 and await echoed.is_visible()
    assert HOSTILE in await echoed.inner_text()
    assert dialogs == []
    assert await page.locator("img").count() == 0
    assert await page.locator("script:not([src])").count() == 0
    await page.screenshot(path=str(tmp_path / "run-live.png"), full_page=True)

    await page.click("#stop-button")
    # The form posts and the page comes back (a stopping or stopped run); then it stops live.
    await page.wait_for_load_state("load")
    await page.locator("#run-status", has_text="stopped").wait_for(timeout=30_000)
    assert await page.locator("#stop-form").count() == 0
    await page.screenshot(path=str(tmp_path / "run-stopped.png"), full_page=True)

    assert dialogs == []
    final = await service.store.get_run(run_id, include_items=False)
    assert final is not None and final.status is RunStatus.STOPPED
    assert (tmp_path / "run-live.png").stat().st_size > 0


async def _watch(page: Any, url: str) -> None:
    await page.goto(url)
    await page.wait_for_load_state("load")
    # Marks this document: a reload would lose it.
    await page.evaluate("window.lamdisTestMarker = 'same document'")


async def test_the_webhook_outcome_appears_live_after_the_run_ends(
    make_service: MakeService,
    browser: Any,  # noqa: F811
    receiver: Receiver,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The outcome is recorded after the run is final, by a receiver on loopback that answers
    slowly: the page shows it sending, then its outcome, without a reload."""
    service = await make_service()  # the service's own notifier
    client = service.client
    receiver.answer.clear()
    try:
        run_id = await start(client, {"suiteId": "live", "webhookUrl": receiver.url})
        page, dialogs = await new_page(browser)
        await _watch(page, str(client.make_url(f"/ui/runs/{run_id}")))
        await page.locator("#item-rows tr:not(.empty)").nth(2).wait_for(timeout=30_000)
        stop = await client.post(f"/internal/runs/{run_id}/stop")
        assert stop.status == 200
        webhook = page.locator("#run-webhook")
        await page.locator("#run-status", has_text="stopped").wait_for(timeout=30_000)
        await webhook.filter(has_text="sending").wait_for(timeout=30_000)
        assert "127.0.0.1" in await webhook.inner_text()
        assert await page.locator("#stop-button").count() == 0
        await page.screenshot(path=str(tmp_path / "run-webhook-sending.png"), full_page=True)

        receiver.answer.set()  # the receiver answers at last
        await webhook.filter(has_text="delivered").wait_for(timeout=30_000)
        text = await webhook.inner_text()
        assert "HTTP 204" in text and "1 attempt" in text and "not delivered" not in text
        assert await page.evaluate("window.lamdisTestMarker") == "same document"
        await page.locator("#stop-form").wait_for(state="detached", timeout=10_000)
        await page.screenshot(path=str(tmp_path / "run-webhook-delivered.png"), full_page=True)
        assert dialogs == []
    finally:
        receiver.answer.set()
    assert (tmp_path / "run-webhook-delivered.png").stat().st_size > 0


async def test_a_run_that_recovery_requeues_starts_over_live(
    make_service: MakeService,
    browser: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Its instance died mid-run (lease expired): the page drops the items recovery cleared,
    shows the run queued, then running again with its new items, without a reload."""
    store = InMemoryRunStore()
    service = await make_service(store=store, start_worker=False, import_tree=False)
    service.app[FEEDS_KEY].poll_seconds = 0.2  # the run executes "elsewhere": polled
    run = await store.create_run(Run(suite_id="s"))
    assert run.id is not None
    now = datetime.now(UTC)
    claimed = await store.claim_next("crashed", now=now, lease_seconds=60)
    assert claimed is not None
    claim = Claim.of(claimed)
    for n in (1, 2):
        await store.append_item(run.id, make_item(n), claim=claim)
    await store.update_progress(run.id, Progress(done=2, total=3), claim=claim)

    page, dialogs = await new_page(browser)
    await _watch(page, str(service.client.make_url(f"/ui/runs/{run.id}")))
    rows = page.locator("#item-rows tr:not(.empty)")
    details = page.locator("#item-details > *")
    assert await rows.count() == 2
    await page.locator("#live-state", has_text="live").wait_for(timeout=10_000)

    assert await store.recover_expired(now=now + timedelta(seconds=120))
    status = page.locator("#run-status")
    await status.filter(has_text="queued").wait_for(timeout=20_000)
    assert await rows.count() == 0 and await details.count() == 0
    assert await page.locator("#item-rows tr.empty").count() == 1
    await page.screenshot(path=str(tmp_path / "run-requeued.png"), full_page=True)

    again = await store.claim_next("another", now=now, lease_seconds=60)
    assert again is not None
    await store.append_item(run.id, make_item(3), claim=Claim.of(again))
    await store.update_progress(run.id, Progress(done=1, total=3), claim=Claim.of(again))
    await rows.first.wait_for(timeout=20_000)
    assert (await status.inner_text()).startswith("running")
    assert await rows.count() == 1 and await page.locator("#item-rows tr.empty").count() == 0
    assert await rows.first.locator("a").inner_text() == make_item(3).test_name
    assert await page.evaluate("window.lamdisTestMarker") == "same document"
    await page.screenshot(path=str(tmp_path / "run-restarted.png"), full_page=True)
    assert dialogs == []
